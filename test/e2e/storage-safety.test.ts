import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { api, autoSealConfig, startServerProcess } from "../helpers/process.js";
import { scanForPlaintext, sqliteFiles } from "../helpers/secret-scan.js";

async function initAutoSealed(address: string): Promise<string> {
  const init = await api(address, "PUT", "sys/init", undefined, { secret_shares: 1, secret_threshold: 1 });
  expect(init.status).toBe(200);
  const root = init.json.root_token as string;
  expect((await api(address, "POST", "sys/mounts/secret", root, { type: "kv", options: { version: "2" } })).status).toBe(204);
  return root;
}

describe("nothing sensitive reaches the disk in plaintext", () => {
  it("a secret value, tokens and a private key are absent from the raw SQLite files", async () => {
    const dir = mkdtempSync(join(tmpdir(), "latchkey-scan-"));
    const server = await startServerProcess(["--config", autoSealConfig(dir)]);
    try {
      const root = await initAutoSealed(server.address);
      const secret = "correct-horse-battery-staple-7f3a9c";
      const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
      const pem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
      const pemBody = pem.split("\n")[1];
      expect((await api(server.address, "POST", "secret/data/scan", root, { data: { password: secret, key: pem } })).status).toBe(200);
      const created = await api(server.address, "POST", "auth/token/create", root, { policies: ["default"], ttl: "1h" });
      const token = created.json.auth.client_token as string;
      const batch = (await api(server.address, "POST", "auth/token/create", root, { type: "batch", policies: ["default"], ttl: "1h" }))
        .json.auth.client_token as string;
      expect((await api(server.address, "GET", "auth/token/lookup-self", token)).status).toBe(200);
      expect((await api(server.address, "GET", "secret/data/scan", root)).json.data.data.password).toBe(secret);

      const files = sqliteFiles(join(dir, "latchkey.db"));
      expect(files.map((f) => f.name)).toContain("sqlite main");
      const values = { secret, pemBody, token, tokenBody: token.slice(4), root, rootBody: root.slice(4), batch: batch.slice(4, 40) };
      const needles = Object.entries(values).map(([name, value]) => ({ name, value }));
      expect(scanForPlaintext(needles, files).found).toEqual([]);
    } finally {
      await server.stop("SIGTERM");
    }
  });
});

describe("crash safety", () => {
  it("SIGKILL in the middle of a stream of KV writes loses no acknowledged write and corrupts nothing", async () => {
    const dir = mkdtempSync(join(tmpdir(), "latchkey-crash-"));
    const config = autoSealConfig(dir);
    let server = await startServerProcess(["--config", config]);
    const root = await initAutoSealed(server.address);

    const acknowledged: number[] = [];
    let stop = false;
    const writers = Array.from({ length: 8 }, async (_, w) => {
      for (let i = w; !stop; i += 8) {
        try {
          const res = await api(server.address, "POST", `secret/data/stream/${i}`, root, { data: { n: String(i), pad: "x".repeat(200) } });
          if (res.status === 200) acknowledged.push(i);
        } catch {
          return; // the connection died with the server
        }
      }
    });
    await new Promise((r) => setTimeout(r, 1500));
    await server.stop("SIGKILL");
    stop = true;
    await Promise.all(writers);
    expect(acknowledged.length).toBeGreaterThan(20);

    const db = new Database(join(dir, "latchkey.db"));
    expect(db.pragma("integrity_check", { simple: true })).toBe("ok");
    db.close();

    server = await startServerProcess(["--config", config]);
    try {
      for (const i of acknowledged) {
        const res = await api(server.address, "GET", `secret/data/stream/${i}`, root);
        expect(res.status, `write ${i} was acknowledged but is missing`).toBe(200);
        expect(res.json.data.data.n).toBe(String(i));
      }
    } finally {
      await server.stop("SIGTERM");
    }
  });
});
