import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { termOf } from "./aead.js";
import { createBarrier, KEYRING_KEY } from "./barrier.js";
import { createMemoryStore } from "./memory.js";

const text = (value: Uint8Array | undefined) => value && Buffer.from(value).toString("utf8");
const bytes = (value: string) => Buffer.from(value, "utf8");

async function unsealedBarrier() {
  const physical = createMemoryStore();
  const barrier = createBarrier(physical);
  const rootKey = randomBytes(32);
  await barrier.initialize(rootKey);
  return { physical, barrier, rootKey };
}

describe("barrier", () => {
  it("initializes a keyring at term 1, encrypted, and stays unsealed", async () => {
    const physical = createMemoryStore();
    const barrier = createBarrier(physical);
    expect(await barrier.isInitialized()).toBe(false);
    expect(barrier.isSealed()).toBe(true);
    await barrier.initialize(randomBytes(32));
    expect(await barrier.isInitialized()).toBe(true);
    expect(barrier.isSealed()).toBe(false);
    expect(barrier.activeTerm()).toBe(1);
    const keyring = await physical.get(KEYRING_KEY);
    expect(keyring && termOf(keyring)).toBe(0);
    expect(text(keyring)).not.toContain("activeTerm");
  });

  it("refuses to initialize twice, or with a root key that is not 256 bits", async () => {
    const { barrier } = await unsealedBarrier();
    await expect(barrier.initialize(randomBytes(32))).rejects.toThrow("latchkey is already initialized");
    await expect(createBarrier(createMemoryStore()).initialize(randomBytes(16))).rejects.toThrow(
      "unseal failed: invalid key",
    );
  });

  it("encrypts through views and reads back after seal and unseal", async () => {
    const { physical, barrier, rootKey } = await unsealedBarrier();
    const view = barrier.view("logical/abc/");
    await view.put("data/foo", bytes("the secret"));
    await view.putJSON("json", { a: 1 });
    const stored = await physical.get("logical/abc/data/foo");
    expect(stored).toBeDefined();
    expect(text(stored)).not.toContain("the secret");
    expect(stored![0]).toBe(1);
    expect(termOf(stored!)).toBe(1);

    barrier.seal();
    await barrier.unseal(rootKey);
    expect(text(await view.get("data/foo"))).toBe("the secret");
    expect(await view.getJSON("json")).toEqual({ a: 1 });
    expect(await view.list("")).toEqual(["data/", "json"]);
  });

  it("rejects a wrong root key with a clear error and stays sealed", async () => {
    const { barrier } = await unsealedBarrier();
    barrier.seal();
    await expect(barrier.unseal(randomBytes(32))).rejects.toMatchObject({
      status: 400,
      message: "unseal failed: invalid key",
    });
    expect(barrier.isSealed()).toBe(true);
  });

  it("refuses unseal before initialization", async () => {
    await expect(createBarrier(createMemoryStore()).unseal(randomBytes(32))).rejects.toThrow(
      "latchkey is not initialized",
    );
  });

  it("refuses every access while sealed with 503", async () => {
    const { barrier } = await unsealedBarrier();
    const view = barrier.view("sys/");
    await view.put("k", bytes("v"));
    barrier.seal();
    const sealedError = { status: 503, message: "latchkey is sealed" };
    await expect(view.get("k")).rejects.toMatchObject(sealedError);
    await expect(view.put("k", bytes("v"))).rejects.toMatchObject(sealedError);
    await expect(view.delete("k")).rejects.toMatchObject(sealedError);
    await expect(view.list("")).rejects.toMatchObject(sealedError);
    await expect(view.scan("")).rejects.toMatchObject(sealedError);
    await expect(view.transaction(async () => 1)).rejects.toMatchObject(sealedError);
    expect(() => barrier.activeTerm()).toThrow("latchkey is sealed");
    expect(() => barrier.deriveKey("batch-token")).toThrow("latchkey is sealed");
    await expect(barrier.rotate()).rejects.toMatchObject(sealedError);
  });

  it("refuses a transaction that outlives the seal", async () => {
    const { barrier } = await unsealedBarrier();
    const view = barrier.view("sys/");
    await expect(
      view.transaction(async (tx) => {
        barrier.seal();
        await tx.put("k", bytes("v"));
      }),
    ).rejects.toThrow("latchkey is sealed");
  });

  it("binds each value to its key: a value moved to another key does not decrypt", async () => {
    const { physical, barrier } = await unsealedBarrier();
    const view = barrier.view("logical/m/");
    await view.put("a", bytes("for a"));
    await physical.put("logical/m/b", (await physical.get("logical/m/a"))!);
    await expect(view.get("b")).rejects.toThrow('value at "logical/m/b" failed to decrypt');
  });

  it("detects tampering", async () => {
    const { physical, barrier } = await unsealedBarrier();
    const view = barrier.view("x/");
    await view.put("a", bytes("value"));
    const stored = (await physical.get("x/a"))!;
    stored[stored.length - 20] ^= 1;
    await physical.put("x/a", stored);
    await expect(view.get("a")).rejects.toMatchObject({ status: 500 });
  });

  it("keeps the seal's own keys out of reach of views", async () => {
    const { barrier } = await unsealedBarrier();
    const root = barrier.view("");
    await expect(root.put("core/keyring", bytes("x"))).rejects.toThrow('storage key "core/keyring" is reserved');
    await expect(root.delete("core/seal-config")).rejects.toThrow("reserved");
    await expect(root.transaction((tx) => tx.delete("core/root-key-wrapped"))).rejects.toThrow("reserved");
  });

  it("rotates: new writes use the new term, old values still decrypt, the keyring survives unseal", async () => {
    const { physical, barrier, rootKey } = await unsealedBarrier();
    const view = barrier.view("kv/");
    await view.put("old", bytes("written at term 1"));
    expect(await barrier.rotate()).toBe(2);
    expect(barrier.activeTerm()).toBe(2);
    await view.put("new", bytes("written at term 2"));
    expect(termOf((await physical.get("kv/old"))!)).toBe(1);
    expect(termOf((await physical.get("kv/new"))!)).toBe(2);

    barrier.seal();
    await barrier.unseal(rootKey);
    expect(barrier.activeTerm()).toBe(2);
    expect(barrier.keyStatus().term).toBe(2);
    expect(Date.parse(barrier.keyStatus().installTime)).toBeGreaterThan(0);
    expect(text(await view.get("old"))).toBe("written at term 1");
    expect(text(await view.get("new"))).toBe("written at term 2");
  });

  it("serializes concurrent rotations", async () => {
    const { barrier } = await unsealedBarrier();
    const terms = await Promise.all([barrier.rotate(), barrier.rotate(), barrier.rotate()]);
    expect(terms).toEqual([2, 3, 4]);
    expect(barrier.activeTerm()).toBe(4);
  });

  it("picks up a rotation made by another server sharing the store", async () => {
    const { physical, barrier, rootKey } = await unsealedBarrier();
    const other = createBarrier(physical);
    await other.unseal(rootKey);
    await other.rotate();
    await other.view("shared/").put("k", bytes("from the other server"));
    expect(text(await barrier.view("shared/").get("k"))).toBe("from the other server");
    expect(barrier.activeTerm()).toBe(2);
  });

  it("derives stable per-purpose keys per term, and refuses unknown terms", async () => {
    const { barrier, rootKey } = await unsealedBarrier();
    const a = barrier.deriveKey("batch-token");
    expect(a.term).toBe(1);
    expect(a.key).toHaveLength(32);
    expect(barrier.deriveKey("batch-token").key).toEqual(a.key);
    expect(barrier.deriveKey("audit-salt").key).not.toEqual(a.key);

    await barrier.rotate();
    const b = barrier.deriveKey("batch-token");
    expect(b.term).toBe(2);
    expect(b.key).not.toEqual(a.key);
    expect(barrier.deriveKey("batch-token", 1)).toEqual(a);
    expect(() => barrier.deriveKey("batch-token", 7)).toThrow("unknown keyring term 7");

    barrier.seal();
    await barrier.unseal(rootKey);
    expect(barrier.deriveKey("batch-token", 1)).toEqual(a);
  });

  it("hands out copies of derived keys", async () => {
    const { barrier } = await unsealedBarrier();
    const first = barrier.deriveKey("p");
    first.key.fill(0);
    expect(barrier.deriveKey("p").key).not.toEqual(first.key);
  });

  it("keeps transactions atomic through views", async () => {
    const { barrier } = await unsealedBarrier();
    const view = barrier.view("t/");
    await expect(
      view.transaction(async (tx) => {
        await tx.put("a", bytes("a"));
        expect(text(await tx.get("a"))).toBe("a");
        throw new Error("abort");
      }),
    ).rejects.toThrow("abort");
    expect(await view.get("a")).toBeUndefined();
    await view.transaction(async (tx) => {
      await tx.put("a", bytes("a"));
      await tx.sub("s/").put("b", bytes("b"));
    });
    expect(await view.scan("")).toEqual(["a", "s/b"]);
    expect(text(await view.sub("s/").get("b"))).toBe("b");
  });
});

describe("barrier keyring reload", () => {
  it("never replaces a newer keyring with an older one read before a rotation", async () => {
    const physical = createMemoryStore();
    const barrier = createBarrier(physical);
    await barrier.initialize(randomBytes(32));
    // The first read of the keyring is slow: it returns what was stored when it began.
    let release = () => {};
    const slow = new Promise<void>((resolve) => (release = resolve));
    let first = true;
    const get = physical.get.bind(physical);
    physical.get = async (key) => {
      const value = await get(key);
      if (key === KEYRING_KEY && first) {
        first = false;
        await slow;
      }
      return value;
    };
    const reloading = barrier.reload();
    const rotating = barrier.rotate();
    await new Promise((resolve) => setTimeout(resolve, 10));
    release();
    await reloading;
    expect(await rotating).toBe(2);
    expect(barrier.activeTerm()).toBe(2);
    await barrier.reload();
    expect(barrier.activeTerm()).toBe(2);
  });
});
