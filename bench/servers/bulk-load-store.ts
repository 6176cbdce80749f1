import Database from "better-sqlite3";
import type { PhysicalStore, PhysicalTx } from "../../src/storage/types.js";

/**
 * The physical store of a set-up process that writes a million tokens. Until
 * `startBulk()` it is `inner`, latchkey's own SQLite store. After it, the
 * rows that committed transactions write (exactly the keys and encrypted
 * values latchkey produced) are appended to a staging table, and `finish()`
 * moves them into latchkey's `kv` table in key order in one statement.
 *
 * Why: token keys are keyed hashes, so inserting them one transaction at a
 * time rewrites B-tree pages all over a 2 GB file again and again; a sorted
 * bulk insert writes each page about once, several times faster. The cost is
 * that reads do not see staged rows, so bulk mode only suits writes that never
 * read back what they wrote (token creation without parents or chosen ids).
 */
export function createBulkLoadStore(inner: PhysicalStore, dbPath: string) {
  let bulk: { db: Database.Database; stage: (rows: [string, Uint8Array][]) => void } | undefined;
  let pending: [string, Uint8Array][] = [];
  const FLUSH_ROWS = 50_000;

  function flush(): void {
    if (!bulk || pending.length === 0) return;
    bulk.stage(pending);
    pending = [];
  }

  const refuseReadBack = (what: string) => async () => {
    throw new Error(`bulk-load store: ${what} would not see the staged rows`);
  };

  const store: PhysicalStore = {
    get: (key) => inner.get(key),
    put: async (key, value) => (bulk ? void pending.push([key, new Uint8Array(value)]) : inner.put(key, value)),
    delete: async (key) => {
      if (bulk) throw new Error("bulk-load store: deletes are not supported in bulk mode");
      return inner.delete(key);
    },
    list: (prefix, after, limit) => (bulk ? refuseReadBack("list")() : inner.list(prefix, after, limit)),
    scan: (prefix, after, limit) => (bulk ? refuseReadBack("scan")() : inner.scan(prefix, after, limit)),
    async transaction(fn) {
      if (!bulk) return inner.transaction(fn);
      const own: [string, Uint8Array][] = [];
      const tx: PhysicalTx = {
        // A read inside a transaction sees the transaction's own writes, then what was committed before bulk mode.
        get: async (key) => {
          for (let i = own.length - 1; i >= 0; i--) if (own[i][0] === key) return own[i][1];
          return inner.get(key);
        },
        put: async (key, value) => void own.push([key, new Uint8Array(value)]),
        delete: refuseReadBack("delete"),
        list: refuseReadBack("list"),
        scan: refuseReadBack("scan"),
      };
      const result = await fn(tx);
      pending.push(...own);
      if (pending.length >= FLUSH_ROWS) flush();
      return result;
    },
    async close() {
      await finish();
      await inner.close();
    },
  };

  /** From now on, committed writes are staged; reads see only what was there before. */
  function startBulk(): void {
    // Other set-up processes may be moving their rows in: wait for them, however long.
    const db = new Database(dbPath, { timeout: 15 * 60_000 });
    db.pragma("cache_size = -262144");
    db.exec("CREATE TEMP TABLE staging (key TEXT NOT NULL, value BLOB NOT NULL)");
    const insert = db.prepare<[string, Uint8Array]>("INSERT INTO temp.staging (key, value) VALUES (?, ?)");
    const stage = db.transaction((rows: [string, Uint8Array][]) => {
      for (const [key, value] of rows) insert.run(key, value);
    });
    bulk = { db, stage };
  }

  /** Moves the staged rows into `kv` in key order (a later write of a key wins) and checkpoints the WAL. */
  async function finish(): Promise<void> {
    if (!bulk) return;
    flush();
    const { db } = bulk;
    bulk = undefined;
    db.exec(
      "INSERT OR REPLACE INTO main.kv (key, value) SELECT key, value FROM temp.staging ORDER BY key, rowid; DROP TABLE temp.staging",
    );
    db.pragma("wal_checkpoint(TRUNCATE)");
    db.close();
  }

  return { store, startBulk, finish };
}
