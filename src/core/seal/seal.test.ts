import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createBarrier, ROOT_KEY_WRAPPED_KEY, SEAL_CONFIG_KEY } from "../../storage/barrier.js";
import { createMemoryStore } from "../../storage/memory.js";
import type { PhysicalStore } from "../../storage/types.js";
import { createSealManager, type SealOptions } from "./seal.js";

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});
async function tempDir() {
  const dir = await mkdtemp(join(tmpdir(), "latchkey-seal-"));
  dirs.push(dir);
  return dir;
}

function setup(seal: SealOptions = { type: "shamir" }, physical: PhysicalStore = createMemoryStore()) {
  const barrier = createBarrier(physical);
  const manager = createSealManager({ physical, barrier, seal, storageType: "memory" });
  return { physical, barrier, manager };
}

const hex = (key: Uint8Array) => Buffer.from(key).toString("hex");
const b64 = (key: Uint8Array) => Buffer.from(key).toString("base64");

describe("seal manager, shamir", () => {
  it("reports Vault's seal-status fields before initialization", async () => {
    const { manager } = setup();
    expect(await manager.isInitialized()).toBe(false);
    expect(await manager.status()).toEqual({
      type: "shamir",
      initialized: false,
      sealed: true,
      t: 0,
      n: 0,
      progress: 0,
      nonce: "",
      version: expect.any(String),
      migration: false,
      recovery_seal: false,
      storage_type: "memory",
    });
  });

  it("initializes with shares, stores only the non-secret config, and stays unsealed", async () => {
    const { physical, barrier, manager } = setup();
    const { keys } = await manager.initialize({ secretShares: 5, secretThreshold: 3 });
    expect(keys).toHaveLength(5);
    expect(keys.every((k) => k.length === 33)).toBe(true);
    expect(barrier.isSealed()).toBe(false);
    expect(await manager.isInitialized()).toBe(true);
    const config = JSON.parse(Buffer.from((await physical.get(SEAL_CONFIG_KEY))!).toString("utf8"));
    expect(config).toEqual({ type: "shamir", secret_shares: 5, secret_threshold: 3 });
    expect(await physical.get(ROOT_KEY_WRAPPED_KEY)).toBeUndefined();
    expect(await physical.scan("")).toEqual(["core/keyring", "core/seal-config"]);
    expect(await manager.status()).toMatchObject({ initialized: true, sealed: false, t: 3, n: 5, progress: 0 });
  });

  it("refuses a second initialization and invalid share configurations", async () => {
    const { manager } = setup();
    await expect(manager.initialize({ secretShares: 3, secretThreshold: 4 })).rejects.toThrow(
      "secret_threshold cannot be larger than secret_shares",
    );
    await expect(manager.initialize({ secretShares: 3, secretThreshold: 1 })).rejects.toThrow(
      "secret_threshold must be at least 2 when secret_shares is more than 1",
    );
    expect(await manager.isInitialized()).toBe(false);
    await manager.initialize({ secretShares: 1, secretThreshold: 1 });
    await expect(manager.initialize({ secretShares: 1, secretThreshold: 1 })).rejects.toMatchObject({
      status: 400,
      message: "latchkey is already initialized",
    });
  });

  it("unseals after the threshold of shares, accepting hex, base64 and bytes", async () => {
    const { barrier, manager } = setup();
    const { keys } = await manager.initialize({ secretShares: 5, secretThreshold: 3 });
    await manager.seal();
    expect(barrier.isSealed()).toBe(true);

    const first = await manager.submitUnsealKey(hex(keys[4]));
    expect(first).toMatchObject({ sealed: true, t: 3, n: 5, progress: 1 });
    expect(first.nonce).toMatch(/^[0-9a-f-]{36}$/);
    const second = await manager.submitUnsealKey(b64(keys[1]));
    expect(second).toMatchObject({ sealed: true, progress: 2, nonce: first.nonce });
    const done = await manager.submitUnsealKey(keys[2]);
    expect(done).toMatchObject({ sealed: false, progress: 0, nonce: "" });
    expect(barrier.isSealed()).toBe(false);
  });

  it("ignores a share submitted twice", async () => {
    const { manager } = setup();
    const { keys } = await manager.initialize({ secretShares: 3, secretThreshold: 2 });
    await manager.seal();
    await manager.submitUnsealKey(hex(keys[0]));
    expect((await manager.submitUnsealKey(b64(keys[0]))).progress).toBe(1);
    expect((await manager.submitUnsealKey(hex(keys[1]))).sealed).toBe(false);
  });

  it("fails a wrong set of shares with 'unseal failed: invalid key' and resets progress", async () => {
    const { barrier, manager } = setup();
    const { keys } = await manager.initialize({ secretShares: 3, secretThreshold: 2 });
    await manager.seal();
    const other = setup();
    const { keys: foreign } = await other.manager.initialize({ secretShares: 3, secretThreshold: 2 });

    await manager.submitUnsealKey(hex(keys[0]));
    await expect(manager.submitUnsealKey(hex(foreign[1]))).rejects.toMatchObject({
      status: 400,
      message: "unseal failed: invalid key",
    });
    expect(await manager.status()).toMatchObject({ sealed: true, progress: 0, nonce: "" });

    // Two parts with the same x coordinate cannot be combined: also an invalid key.
    const clash = new Uint8Array(keys[1]);
    clash[32] = keys[0][32];
    clash[0] ^= 1;
    await manager.submitUnsealKey(keys[0]);
    await expect(manager.submitUnsealKey(clash)).rejects.toThrow("unseal failed: invalid key");
    expect(barrier.isSealed()).toBe(true);

    await manager.submitUnsealKey(keys[1]);
    expect((await manager.submitUnsealKey(keys[2])).sealed).toBe(false);
  });

  it("resets progress on request", async () => {
    const { manager } = setup();
    const { keys } = await manager.initialize({ secretShares: 3, secretThreshold: 2 });
    await manager.seal();
    await manager.submitUnsealKey(keys[0]);
    expect(await manager.submitUnsealKey("", { reset: true })).toMatchObject({ progress: 0, nonce: "", sealed: true });
  });

  it("with one share, the unseal key is the root key itself", async () => {
    const { barrier, manager } = setup();
    const { keys } = await manager.initialize({ secretShares: 1, secretThreshold: 1 });
    expect(keys).toHaveLength(1);
    expect(keys[0]).toHaveLength(32);
    await manager.seal();
    await expect(manager.submitUnsealKey(randomBytes(32))).rejects.toThrow("unseal failed: invalid key");
    expect((await manager.submitUnsealKey(b64(keys[0]))).sealed).toBe(false);
    expect(barrier.isSealed()).toBe(false);
  });

  it("rejects keys that are not hex or base64 of the right length", async () => {
    const { manager } = setup();
    await manager.initialize({ secretShares: 3, secretThreshold: 2 });
    await manager.seal();
    for (const bad of ["zz", "abcd", "not a key!", randomBytes(32).toString("hex")]) {
      await expect(manager.submitUnsealKey(bad)).rejects.toMatchObject({
        status: 400,
        message: '"key" must be an unseal key in hex or base64',
      });
    }
    expect((await manager.status()).progress).toBe(0);
  });

  it("answers unseal calls on an unsealed or uninitialized store as Vault does", async () => {
    const { manager } = setup();
    await expect(manager.submitUnsealKey("00")).rejects.toThrow("latchkey is not initialized");
    const { keys } = await manager.initialize({ secretShares: 3, secretThreshold: 2 });
    expect(await manager.submitUnsealKey(keys[0])).toMatchObject({ sealed: false, progress: 0 });
  });

  it("refuses auto-unseal when initialized with shamir", async () => {
    const { manager } = setup();
    await manager.initialize({ secretShares: 1, secretThreshold: 1 });
    await expect(manager.autoUnseal()).rejects.toThrow(
      "auto-unseal needs the auto seal; unseal with unseal keys",
    );
  });
});

describe("seal manager, auto", () => {
  it("creates a private key file, wraps the root key, returns no keys, and auto-unseals", async () => {
    const dir = await tempDir();
    const keyFile = join(dir, "secrets", "unseal.key");
    const physical = createMemoryStore();
    const first = setup({ type: "auto", keyFile }, physical);
    const { keys } = await first.manager.initialize({ secretShares: 1, secretThreshold: 1 });
    expect(keys).toEqual([]);
    expect(first.barrier.isSealed()).toBe(false);
    await first.barrier.view("kv/").put("k", Buffer.from("value"));

    expect((await stat(keyFile)).mode & 0o777).toBe(0o600);
    expect(Buffer.from((await readFile(keyFile, "utf8")).trim(), "base64")).toHaveLength(32);
    expect(await physical.get(ROOT_KEY_WRAPPED_KEY)).toBeDefined();
    expect(await first.manager.status()).toMatchObject({ type: "auto", initialized: true, t: 1, n: 1 });

    // A restart: a new barrier and manager over the same storage and key file.
    const second = setup({ type: "auto", keyFile }, physical);
    expect(second.barrier.isSealed()).toBe(true);
    await second.manager.autoUnseal();
    expect(second.barrier.isSealed()).toBe(false);
    expect(Buffer.from((await second.barrier.view("kv/").get("k"))!).toString()).toBe("value");
    await expect(second.manager.submitUnsealKey("00")).resolves.toMatchObject({ sealed: false });
  });

  it("uses an existing key file instead of replacing it", async () => {
    const dir = await tempDir();
    const keyFile = join(dir, "unseal.key");
    const content = `${randomBytes(32).toString("base64")}\n`;
    await writeFile(keyFile, content, { mode: 0o600 });
    const { manager } = setup({ type: "auto", keyFile });
    await manager.initialize({ secretShares: 1, secretThreshold: 1 });
    expect(await readFile(keyFile, "utf8")).toBe(content);
  });

  it("fails clearly with a different key file, a missing one, or a malformed one", async () => {
    const dir = await tempDir();
    const keyFile = join(dir, "unseal.key");
    const physical = createMemoryStore();
    await setup({ type: "auto", keyFile }, physical).manager.initialize({ secretShares: 1, secretThreshold: 1 });

    const otherFile = join(dir, "other.key");
    await writeFile(otherFile, randomBytes(32).toString("base64"));
    const wrong = setup({ type: "auto", keyFile: otherFile }, physical);
    await expect(wrong.manager.autoUnseal()).rejects.toThrow(
      `auto-unseal failed: key file ${otherFile} does not match this storage`,
    );
    expect(wrong.barrier.isSealed()).toBe(true);

    const missing = setup({ type: "auto", keyFile: join(dir, "missing.key") }, physical);
    await expect(missing.manager.autoUnseal()).rejects.toThrow("cannot read key file");

    const malformedFile = join(dir, "malformed.key");
    await writeFile(malformedFile, "short");
    const malformed = setup({ type: "auto", keyFile: malformedFile }, physical);
    await expect(malformed.manager.autoUnseal()).rejects.toThrow("must hold 32 bytes in base64");
  });

  it("does not take unseal keys, and refuses a shamir configuration over auto storage", async () => {
    const dir = await tempDir();
    const keyFile = join(dir, "unseal.key");
    const physical = createMemoryStore();
    const auto = setup({ type: "auto", keyFile }, physical);
    await auto.manager.initialize({ secretShares: 1, secretThreshold: 1 });
    await auto.manager.seal();
    await expect(auto.manager.submitUnsealKey(randomBytes(32))).rejects.toThrow(
      "latchkey uses the auto seal and does not take unseal keys",
    );
    await expect(setup({ type: "shamir" }, physical).manager.autoUnseal()).rejects.toThrow(
      "latchkey was initialized with the auto seal but is configured for the shamir seal",
    );
  });
});
