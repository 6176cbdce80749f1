import { generateKeyPairSync, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { decryptValue } from "./aead.js";
import { createBarrier, KEYRING_KEY } from "./barrier.js";
import { createSqliteStore } from "./sqlite.js";
import type { PhysicalStore } from "./types.js";

/**
 * Nothing sensitive is written in plaintext: secrets written through the
 * barrier into SQLite must not appear in the database file or its WAL, in
 * any of the encodings a value could plausibly leak in.
 */

/** The byte patterns under which `secret` could show up in a file. */
function encodings(secret: string | Uint8Array): Buffer[] {
  const raw = Buffer.from(secret);
  const forms = [raw, Buffer.from(raw.toString("hex")), Buffer.from(raw.toString("hex").toUpperCase())];
  // Base64 depends on alignment: try the value starting at each of three offsets, and drop the padded tail.
  for (let offset = 0; offset < 3; offset++) {
    const encoded = raw.subarray(offset).toString("base64").replace(/=+$/, "");
    forms.push(Buffer.from(encoded.slice(0, encoded.length - 4)));
    forms.push(Buffer.from(raw.subarray(offset).toString("base64url").slice(0, encoded.length - 4)));
  }
  return forms;
}

async function storeFiles(path: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  for (const name of [path, `${path}-wal`, `${path}-shm`]) {
    if (existsSync(name)) files.set(name, await readFile(name));
  }
  return files;
}

async function expectAbsent(path: string, secrets: Record<string, string | Uint8Array>) {
  const files = await storeFiles(path);
  expect(files.size).toBeGreaterThan(0);
  for (const [file, content] of files) {
    for (const [name, secret] of Object.entries(secrets)) {
      for (const form of encodings(secret)) {
        expect(content.includes(form), `${name} found in ${file} as "${form.toString().slice(0, 20)}…"`).toBe(false);
      }
    }
  }
}

describe("at rest in SQLite", () => {
  let dir: string;
  let path: string;
  let physical: PhysicalStore;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "latchkey-at-rest-"));
    path = join(dir, "latchkey.db");
    physical = createSqliteStore(path);
  });
  afterEach(async () => {
    await physical.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("holds no secret, token, private key, root key or data key in plaintext, in the WAL or the database", async () => {
    const rootKey = randomBytes(32);
    const barrier = createBarrier(physical);
    await barrier.initialize(rootKey);
    const secrets = {
      password: `latchkey-canary-${randomBytes(12).toString("hex")}`,
      token: `lks.${randomBytes(24).toString("base64url")}`,
      privateKey: generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ type: "pkcs8", format: "pem" }),
      binary: randomBytes(48),
    };
    const kv = barrier.view("logical/kv-uuid/");
    await kv.putJSON("data/app/db", { data: { password: secrets.password }, metadata: { version: 1 } });
    await kv.putJSON("data/app/tls", { data: { key: secrets.privateKey } });
    await kv.put("data/app/blob", secrets.binary);
    await barrier.view("sys/token/").transaction(async (tx) => {
      await tx.putJSON("id/abc", { id: secrets.token, policies: ["default"] });
    });
    await barrier.rotate();
    await kv.putJSON("data/app/db-v2", { data: { password: secrets.password } });

    const keyring = JSON.parse(
      Buffer.from(decryptValue(rootKey, KEYRING_KEY, (await physical.get(KEYRING_KEY))!)).toString(),
    ) as { keys: { key: string }[] };
    const dataKeys = Object.fromEntries(keyring.keys.map((k, i) => [`data key ${i}`, Buffer.from(k.key, "base64")]));
    const all = { ...secrets, rootKey, ...dataKeys };

    // Still in the WAL: nothing checkpointed yet.
    expect(existsSync(`${path}-wal`)).toBe(true);
    await expectAbsent(path, all);

    // Closing checkpoints the WAL into the database file.
    await physical.close();
    await expectAbsent(path, all);

    // And the values are all there, readable through the barrier after a restart.
    physical = createSqliteStore(path);
    const restarted = createBarrier(physical);
    await restarted.unseal(rootKey);
    const view = restarted.view("logical/kv-uuid/");
    expect(await view.getJSON("data/app/db")).toMatchObject({ data: { password: secrets.password } });
    expect(await view.getJSON("data/app/tls")).toEqual({ data: { key: secrets.privateKey } });
    expect(Buffer.from((await view.get("data/app/blob"))!)).toEqual(secrets.binary);
  });

  it("the scan itself finds a secret written without the barrier", async () => {
    const canary = `latchkey-canary-${randomBytes(12).toString("hex")}`;
    await physical.put("plain/leak", Buffer.from(JSON.stringify({ v: Buffer.from(canary).toString("base64") })));
    await expect(expectAbsent(path, { canary })).rejects.toThrow("canary found in");
  });

  it("refuses reads while sealed", async () => {
    const rootKey = randomBytes(32);
    const barrier = createBarrier(physical);
    await barrier.initialize(rootKey);
    const view = barrier.view("logical/x/");
    await view.put("k", Buffer.from("v"));
    barrier.seal();
    await expect(view.get("k")).rejects.toMatchObject({ status: 503, message: "latchkey is sealed" });
    await expect(view.list("")).rejects.toMatchObject({ status: 503 });
  });

  it("a ciphertext swapped to another key fails to decrypt", async () => {
    const barrier = createBarrier(physical);
    await barrier.initialize(randomBytes(32));
    const view = barrier.view("logical/x/");
    await view.put("alice", Buffer.from("alice's secret"));
    await view.put("bob", Buffer.from("bob's secret"));
    await physical.put("logical/x/bob", (await physical.get("logical/x/alice"))!);
    await expect(view.get("bob")).rejects.toThrow('value at "logical/x/bob" failed to decrypt');
    expect(Buffer.from((await view.get("alice"))!).toString()).toBe("alice's secret");
  });
});
