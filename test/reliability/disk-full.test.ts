/**
 * SQLite on a full file system: a real server whose database sits on an 8 MiB
 * tmpfs is filled with KV writes until it refuses one. The refusal is a 503
 * naming the problem, the server keeps serving reads, a refused write leaves
 * nothing behind, and once space is freed (a ballast file deleted) writes are
 * accepted again without a restart; after a restart every acknowledged write
 * is still there.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { api, autoSealConfig, startServerProcess, type ServerProcess } from "../helpers/process.js";

const BALLAST_BYTES = 2 * 1024 * 1024;

/** Mounts an 8 MiB tmpfs at a fresh directory; fails (never skips) when the kernel refuses. */
function mountSmallTmpfs(): string {
  const dir = mkdtempSync(join(tmpdir(), "latchkey-full-"));
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", dir], { stdio: "pipe" });
  } catch (err) {
    const detail = err instanceof Error && "stderr" in err ? String(err.stderr).trim() : String(err);
    throw new Error(`the full-disk test needs to mount a small tmpfs (as root, or with CAP_SYS_ADMIN): mount -t tmpfs -o size=8m tmpfs ${dir} failed: ${detail}`);
  }
  return dir;
}

function unmount(dir: string): void {
  execFileSync("umount", [dir], { stdio: "pipe" });
  rmSync(dir, { recursive: true, force: true });
}

const value = (i: number) => ({ n: String(i), pad: `${i}:`.padEnd(4096, "abcdefghijklmnopqrstuvwxyz0123456789") });

describe("a full disk under SQLite", () => {
  it("refuses writes with 503, keeps reads, loses nothing, and writes again once space is free", async () => {
    const mountpoint = mountSmallTmpfs();
    let server: ServerProcess | undefined;
    try {
      const dataDir = join(mountpoint, "data");
      mkdirSync(dataDir, { mode: 0o700 });
      const config = autoSealConfig(dataDir);
      const ballast = join(mountpoint, "ballast");
      server = await startServerProcess(["--config", config]);
      const init = await api(server.address, "PUT", "sys/init", undefined, { secret_shares: 1, secret_threshold: 1 });
      const root = init.json.root_token as string;
      expect((await api(server.address, "POST", "sys/mounts/secret", root, { type: "kv", options: { version: "2" } })).status).toBe(204);
      // Room to give back later: the file system stays full until the ballast goes.
      writeFileSync(ballast, Buffer.alloc(BALLAST_BYTES, 1));

      const acknowledged: number[] = [];
      let refusal: { status: number; json: Record<string, unknown>; text: string } | undefined;
      for (let i = 0; i < 10_000 && !refusal; i++) {
        const res = await api(server.address, "POST", `secret/data/fill/${i}`, root, { data: value(i) });
        if (res.status === 200) acknowledged.push(i);
        else refusal = { ...res, json: { ...res.json, key: i } };
      }
      expect(refusal, "the disk never filled").toBeDefined();
      const refusedKey = refusal!.json.key as number;
      expect({ status: refusal!.status, errors: refusal!.json.errors }).toEqual({
        status: 503,
        errors: ["storage is full: the SQLite database could not grow (SQLITE_FULL); free space on its file system"],
      });
      expect(acknowledged.length).toBeGreaterThan(100);
      expect(server.proc.exitCode).toBeNull();

      // Still full: reads are served. A smaller write may still fit in pages the WAL
      // already holds; one that does not is refused the same way, never with a 500.
      for (const i of [acknowledged[0], acknowledged[acknowledged.length - 1]]) {
        const read = await api(server.address, "GET", `secret/data/fill/${i}`, root);
        expect(read.status).toBe(200);
        expect(read.json.data.data).toEqual(value(i));
      }
      expect((await api(server.address, "GET", "sys/health")).status).toBe(200);
      const token = await api(server.address, "POST", "auth/token/create", root, { policies: ["default"], ttl: "1h" });
      if (token.status !== 200) {
        expect(token.status).toBe(503);
        expect(token.json.errors[0]).toMatch(/^storage is full/);
      }
      let refusedAgain: { status: number; errors: unknown } | undefined;
      for (let i = refusedKey + 1; i < refusedKey + 1_000 && !refusedAgain; i++) {
        const res = await api(server.address, "POST", `secret/data/fill/${i}`, root, { data: value(i) });
        if (res.status === 200) acknowledged.push(i);
        else refusedAgain = { status: res.status, errors: res.json.errors };
      }
      expect(refusedAgain).toEqual({ status: 503, errors: refusal!.json.errors });

      // Space comes back; the same server takes writes again.
      rmSync(ballast);
      const again = await api(server.address, "POST", `secret/data/fill/${refusedKey}`, root, { data: value(refusedKey) });
      expect(again.status, again.text).toBe(200);
      acknowledged.push(refusedKey);
      expect((await api(server.address, "POST", "auth/token/create", root, { policies: ["default"], ttl: "1h" })).status).toBe(200);
      const afterFree = await api(server.address, "GET", `secret/metadata/fill/${refusedKey}`, root);
      // The refused write left no version behind: the retry is version 1.
      expect(afterFree.json.data.current_version).toBe(1);

      expect(await server.stop("SIGTERM")).toBe(0);
      server = await startServerProcess(["--config", config]);
      for (const i of acknowledged) {
        const read = await api(server.address, "GET", `secret/data/fill/${i}`, root);
        expect(read.status, `write ${i} was acknowledged but is missing after the restart`).toBe(200);
        expect(read.json.data.data.n).toBe(String(i));
      }
      console.log(`disk-full: ${acknowledged.length} acknowledged writes read back after freeing space and a restart; refusal: ${refusal!.status} ${JSON.stringify(refusal!.json.errors)}`);
    } finally {
      await server?.stop("SIGKILL");
      unmount(mountpoint);
    }
  }, 180_000);
});
