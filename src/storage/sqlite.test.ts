import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { runPhysicalStoreConformance } from "./conformance.js";
import { createSqliteStore } from "./sqlite.js";

/** A fresh store at `relativePath` in a temp dir; `cleanup` closes it and removes the dir. */
async function tempStore(relativePath = "latchkey.db", cacheEntries?: number) {
  const dir = await mkdtemp(join(tmpdir(), "latchkey-sqlite-"));
  const path = join(dir, relativePath);
  const store = createSqliteStore(path, cacheEntries === undefined ? {} : { cache: { entries: cacheEntries, bytes: 1 << 20 } });
  const cleanup = async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  };
  return { path, store, cleanup };
}

runPhysicalStoreConformance("sqlite", () => tempStore());
runPhysicalStoreConformance("sqlite without a read cache", () => tempStore("latchkey.db", 0));

/** Writes a row behind the store's back, through a connection of its own: what only a read of the file can see. */
function writeBehind(path: string, key: string, value: Uint8Array) {
  const db = new Database(path);
  db.prepare("UPDATE kv SET value = ? WHERE key = ?").run(value, key);
  db.close();
}

describe("sqlite store", () => {
  it("creates parent directories and keeps the database and its WAL private (0600)", async () => {
    const { path, store, cleanup } = await tempStore("nested/deeper/latchkey.db");
    await store.put("k", new Uint8Array([1]));
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await stat(`${path}-wal`)).mode & 0o777).toBe(0o600);
    await cleanup();
  });

  it("uses WAL with synchronous=NORMAL and creates the kv table as a rowid table", async () => {
    const { path, store, cleanup } = await tempStore();
    await store.put("k", new Uint8Array([1]));
    const db = new Database(path, { readonly: true });
    expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
    const sql = db.prepare<[], string>("SELECT sql FROM sqlite_master WHERE name = 'kv'").pluck().get();
    expect(sql).toMatch(/key TEXT PRIMARY KEY/);
    expect(sql).not.toMatch(/WITHOUT ROWID/);
    db.close();
    await cleanup();
  });

  it("keeps reading and writing a database whose kv table an earlier version made WITHOUT ROWID", async () => {
    const dir = await mkdtemp(join(tmpdir(), "latchkey-sqlite-"));
    const path = join(dir, "old.db");
    const old = new Database(path);
    old.exec("CREATE TABLE kv (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID");
    old.prepare("INSERT INTO kv (key, value) VALUES (?, ?)").run("a/1", Buffer.from([1]));
    old.close();
    const store = createSqliteStore(path);
    expect(await store.get("a/1")).toEqual(new Uint8Array([1]));
    await store.put("a/1", new Uint8Array([2]));
    await store.put("a/2", new Uint8Array([3]));
    await store.delete("missing");
    expect(await store.get("a/1")).toEqual(new Uint8Array([2]));
    expect(await store.list("a/")).toEqual(["1", "2"]);
    await store.close();
    const db = new Database(path, { readonly: true });
    expect(db.prepare<[], string>("SELECT sql FROM sqlite_master WHERE name = 'kv'").pluck().get()).toMatch(/WITHOUT ROWID/);
    db.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("checkpoints the WAL from its own thread a moment after commits, well before SQLite's own 1,000-page threshold", async () => {
    const { path, store, cleanup } = await tempStore();
    const pages = async () => (await stat(path)).size / 4096;
    const before = await pages();
    // 200 commits of a page each: only a checkpoint moves them from the WAL into the database file.
    for (let i = 0; i < 200; i++) await store.put(`k/${String(i).padStart(4, "0")}`, new Uint8Array(4000).fill(i));
    const deadline = Date.now() + 5_000;
    while ((await pages()) < before + 200 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(await pages()).toBeGreaterThanOrEqual(before + 200);
    await cleanup();
  });

  it("ends its checkpointer thread on close, and a store reopened on the file reads what was checkpointed", async () => {
    const { path, store, cleanup } = await tempStore();
    await store.put("k", new Uint8Array([7]));
    await store.close();
    const again = createSqliteStore(path);
    expect(await again.get("k")).toEqual(new Uint8Array([7]));
    await again.close();
    await cleanup();
  });

  it("keeps data across close and reopen", async () => {
    const { path, store, cleanup } = await tempStore();
    await store.put("a/b", new Uint8Array([1, 2, 3]));
    await store.close();
    const reopened = createSqliteStore(path);
    expect(await reopened.get("a/b")).toEqual(new Uint8Array([1, 2, 3]));
    await reopened.close();
    await cleanup();
  });

  it("lists a child with a huge subtree by seeking past it, not reading it", async () => {
    const { store, cleanup } = await tempStore();
    await store.transaction(async (tx) => {
      for (let i = 0; i < 50_000; i++) await tx.put(`big/deep/${String(i).padStart(6, "0")}`, new Uint8Array([1]));
      await tx.put("big/a", new Uint8Array([1]));
      await tx.put("big/z", new Uint8Array([1]));
    });
    // One scan reads the whole 50k-key subtree; twenty lists must together cost
    // less than that, which holds only if each list seeks past the subtree.
    let started = performance.now();
    expect(await store.scan("big/deep/")).toHaveLength(50_000);
    const scanTime = performance.now() - started;
    started = performance.now();
    for (let i = 0; i < 20; i++) expect(await store.list("big/")).toEqual(["a", "deep/", "z"]);
    expect(performance.now() - started).toBeLessThan(scanTime);
    await cleanup();
  });

  it("answers a key read before from memory, until its own commit replaces or deletes it", async () => {
    const { path, store, cleanup } = await tempStore();
    await store.put("k", new Uint8Array([1]));
    expect(await store.get("k")).toEqual(new Uint8Array([1]));
    writeBehind(path, "k", new Uint8Array([9]));
    // The cached value: this store never read the row again.
    expect(await store.get("k")).toEqual(new Uint8Array([1]));
    // Each caller gets a copy: changing one changes nothing for the next.
    (await store.get("k"))!.fill(5);
    expect(await store.get("k")).toEqual(new Uint8Array([1]));
    await store.transaction(async (tx) => tx.put("k", new Uint8Array([2])));
    expect(await store.get("k")).toEqual(new Uint8Array([2]));
    await store.delete("k");
    expect(await store.get("k")).toBeUndefined();
    await cleanup();
  });

  it("reads the file every time with cache_size 0", async () => {
    const { path, store, cleanup } = await tempStore("latchkey.db", 0);
    await store.put("k", new Uint8Array([1]));
    expect(await store.get("k")).toEqual(new Uint8Array([1]));
    writeBehind(path, "k", new Uint8Array([9]));
    expect(await store.get("k")).toEqual(new Uint8Array([9]));
    await cleanup();
  });

  it("keeps answering the committed value when a commit fails", async () => {
    const { path, store, cleanup } = await tempStore();
    await store.put("k", new Uint8Array([1]));
    expect(await store.get("k")).toEqual(new Uint8Array([1]));
    const db = new Database(path);
    db.exec("CREATE TRIGGER refuse BEFORE INSERT ON kv WHEN NEW.key = 'refused' BEGIN SELECT RAISE(ABORT, 'refused'); END");
    db.close();
    // One batch: the write of k and the refused one fail together.
    await expect(
      store.transaction(async (tx) => {
        await tx.put("k", new Uint8Array([2]));
        await tx.put("refused", new Uint8Array([3]));
      }),
    ).rejects.toMatchObject({ status: 503 });
    expect(await store.get("k")).toEqual(new Uint8Array([1]));
    await cleanup();
  });

  it("reports database failures as 503 upstream errors", async () => {
    const { store, cleanup } = await tempStore();
    await store.close();
    await expect(store.get("k")).rejects.toMatchObject({ status: 503, code: "LK_ERR_UPSTREAM" });
    await cleanup();
  });
});
