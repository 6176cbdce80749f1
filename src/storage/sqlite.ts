import { chmodSync, closeSync, mkdirSync, openSync } from "node:fs";
import { dirname } from "node:path";
import { Worker } from "node:worker_threads";
import Database from "better-sqlite3";
import { LatchkeyError, upstreamError } from "../core/errors.js";
import { compareKeys, prefixSuccessor } from "./keys.js";
import { createReadCache, type ReadCacheLimits } from "./read-cache.js";
import { createTxLock } from "./tx-lock.js";
import type { PhysicalReader, PhysicalStore, PhysicalTx } from "./types.js";

/** Keys in ascending byte order from `lower` (inclusive) to `upper` (exclusive; none = unbounded), read lazily. */
type KeyRange = (lower: string, upper: string | undefined) => Iterable<string>;

/** A buffered write inside a transaction: the new value, or null for a delete. */
type PendingWrites = Map<string, Uint8Array | null>;

/** Write sets queued for the next group commit, and their combined effect for transactions to read. */
interface Batch {
  sets: PendingWrites[];
  overlay: PendingWrites;
  state: "open" | "committed" | "failed";
  done: Promise<void>;
  settle(err?: unknown): void;
}

function newBatch(schedule: () => void): Batch {
  let settle!: (err?: unknown) => void;
  const done = new Promise<void>((resolve, reject) => (settle = (err) => (err === undefined ? resolve() : reject(err))));
  // Callers that only read from a failed batch learn of it through readFromFailed; no unhandled rejection.
  done.catch(() => undefined);
  schedule();
  return { sets: [], overlay: new Map(), state: "open", done, settle };
}

const readFromFailed = () =>
  upstreamError(503, "sqlite storage failed: a transaction this one depends on was not committed");

/**
 * The embedded physical store: one SQLite file, one `kv` table ordered by key,
 * so `list` and `scan` are index range reads whose cost follows the result,
 * not the size of the table.
 */
export function createSqliteStore(path: string, opts: { cache?: ReadCacheLimits } = {}): PhysicalStore {
  const db = openDatabase(path);
  // This process is the file's only writer, so every commit passes `flush` and the cache cannot go stale.
  const cache = createReadCache(opts.cache);
  const checkpointer = path === ":memory:" ? undefined : startCheckpointer(db, path);
  const getStmt = db.prepare<[string], Buffer>("SELECT value FROM kv WHERE key = ?").pluck();
  const putStmt = db.prepare<[string, Uint8Array]>(
    "INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
  );
  const deleteStmt = db.prepare<[string]>("DELETE FROM kv WHERE key = ?");
  const boundedStmt = db
    .prepare<[string, string], string>("SELECT key FROM kv WHERE key >= ? AND key < ? ORDER BY key")
    .pluck();
  const unboundedStmt = db.prepare<[string], string>("SELECT key FROM kv WHERE key >= ? ORDER BY key").pluck();

  const range: KeyRange = (lower, upper) =>
    upper === undefined ? unboundedStmt.iterate(lower) : boundedStmt.iterate(lower, upper);
  // Every caller gets its own copy: none can change what the cache or another caller holds.
  const read = (key: string): Uint8Array | undefined => {
    const cached = cache.get(key);
    if (cached !== undefined) return cached.slice();
    const value = getStmt.get(key);
    if (value === undefined) return undefined;
    const stored = new Uint8Array(value);
    cache.read(key, stored);
    return stored.slice();
  };
  const applyWrites = db.transaction((sets: PendingWrites[]) => {
    for (const writes of sets) {
      for (const [key, value] of writes) {
        if (value) putStmt.run(key, value);
        else deleteStmt.run(key);
      }
    }
  });

  // Group commit: write sets that arrive while the event loop is busy with other
  // requests are applied in one SQLite transaction on the next turn. A commit
  // costs tens of microseconds of lock and write calls whatever its size, so
  // concurrent logins share it. Each caller resumes only once its writes are
  // committed: an acknowledged write is in the WAL exactly as before.
  let open: Batch | undefined;
  function flush() {
    const batch = open;
    open = undefined;
    if (!batch) return;
    try {
      // BEGIN IMMEDIATE takes the write lock up front instead of failing on upgrade.
      guard(() => applyWrites.immediate(batch.sets));
      batch.state = "committed";
      for (const writes of batch.sets) for (const [key, value] of writes) cache.wrote(key, value);
      checkpointer?.committed();
    } catch (err) {
      batch.state = "failed";
      batch.settle(err);
      return;
    }
    batch.settle();
  }
  function commit(writes: PendingWrites): Promise<void> {
    const batch = (open ??= newBatch(() => setImmediate(flush)));
    batch.sets.push(writes);
    for (const [key, value] of writes) batch.overlay.set(key, value);
    return batch.done;
  }

  // Transactions run one at a time (see tx-lock.ts) and read through the open
  // batch: a transaction that starts after another queued its writes sees them,
  // so two uses of one token, two renewals or two check-and-sets never both
  // read the old value. A transaction that read from a batch resumes only once
  // that batch committed, and fails if it did not.
  const exclusive = createTxLock();

  async function runTransaction<T>(fn: (tx: PhysicalTx) => Promise<T>): Promise<{ result: T; wait?: Promise<void> }> {
    const writes: PendingWrites = new Map();
    let readFrom: Batch | undefined;
    const queued = (): PendingWrites | undefined => {
      if (open && open.overlay.size > 0) readFrom = open;
      return open?.overlay;
    };
    const merged: KeyRange = (lower, upper) => {
      const overlay = queued();
      const committed = overlay ? mergeWrites(range(lower, upper), overlay, lower, upper) : range(lower, upper);
      return mergeWrites(committed, writes, lower, upper);
    };
    const reader: PhysicalReader = {
      get: async (key) => {
        const pending = writes.has(key) ? writes.get(key) : queued()?.get(key);
        if (pending !== undefined) return pending ? new Uint8Array(pending) : undefined;
        return guard(() => read(key));
      },
      list: async (prefix, after, limit) => guard(() => listOver(merged, prefix, after, limit)),
      scan: async (prefix, after, limit) => guard(() => scanOver(merged, prefix, after, limit)),
    };
    const tx: PhysicalTx = {
      ...reader,
      put: async (key, value) => void writes.set(key, new Uint8Array(value)),
      delete: async (key) => void writes.set(key, null),
    };
    const result = await fn(tx);
    if (readFrom?.state === "failed") throw readFromFailed();
    // better-sqlite3 transactions are synchronous, so the async fn only buffers.
    if (writes.size > 0) return { result, wait: commit(writes) };
    return { result, wait: readFrom?.state === "open" ? readFrom.done : undefined };
  }

  const store: PhysicalStore = {
    get: async (key) => guard(() => read(key)),
    put: (key, value) => commit(new Map([[key, new Uint8Array(value)]])),
    delete: (key) => commit(new Map([[key, null]])),
    list: async (prefix, after, limit) => guard(() => listOver(range, prefix, after, limit)),
    scan: async (prefix, after, limit) => guard(() => scanOver(range, prefix, after, limit)),
    async transaction<T>(fn: (tx: PhysicalTx) => Promise<T>): Promise<T> {
      const release = await exclusive();
      let outcome: { result: T; wait?: Promise<void> };
      try {
        outcome = await runTransaction(fn);
      } finally {
        release();
      }
      await outcome.wait;
      return outcome.result;
    },
    async close() {
      flush();
      await checkpointer?.stop();
      db.close();
    },
  };
  return store;
}

/** Pages of WAL after which a commit checkpoints by itself: SQLite's default. */
const AUTOCHECKPOINT_PAGES = 1000;
/**
 * With the checkpointer running, the main connection's own checkpoints are
 * only a backstop, for a checkpointer that falls behind (a reader holding an
 * old snapshot): about 40 MiB of WAL.
 */
const BACKSTOP_PAGES = 10_000;
/** How long the checkpointer lets commits gather before it copies them. */
const CHECKPOINT_INTERVAL_MS = 20;

/**
 * Moves the WAL checkpoints off the event loop. In WAL mode a checkpoint copies
 * the WAL's pages into the database file and fsyncs both; SQLite runs it inside
 * the commit that crosses `wal_autocheckpoint`, so every thousandth page or so a
 * commit blocked the event loop on two fsyncs. A worker thread with its own
 * connection runs them instead (src/storage/sqlite-checkpointer.cjs), a PASSIVE
 * checkpoint a few milliseconds after commits, which never blocks this
 * connection's writes; the next commit after a complete checkpoint starts the
 * WAL over. Should the thread fail, the connection checkpoints by itself again.
 */
function startCheckpointer(db: Database.Database, path: string): { committed(): void; stop(): Promise<void> } {
  // The slots sqlite-checkpointer.cjs reads: commits so far, and 1 once it is to stop.
  const COMMITS = 0;
  const STOP = 1;
  const signal = new Int32Array(new SharedArrayBuffer(8));
  const worker = new Worker(new URL("./sqlite-checkpointer.cjs", import.meta.url), {
    workerData: { path, intervalMs: CHECKPOINT_INTERVAL_MS, signal },
  });
  db.pragma(`wal_autocheckpoint = ${BACKSTOP_PAGES}`);
  // A thread that fails ends; its exit hands the checkpoints back to this connection.
  worker.on("error", () => undefined);
  const exited = new Promise<void>((resolve) =>
    worker.once("exit", () => {
      if (db.open) db.pragma(`wal_autocheckpoint = ${AUTOCHECKPOINT_PAGES}`);
      resolve();
    }),
  );
  // The thread does not keep the process alive; it ends with it.
  worker.unref();
  return {
    committed() {
      Atomics.add(signal, COMMITS, 1);
      Atomics.notify(signal, COMMITS);
    },
    async stop() {
      Atomics.store(signal, STOP, 1);
      Atomics.notify(signal, COMMITS);
      Atomics.notify(signal, STOP);
      // Unreferenced, the thread would not keep the process alive until it has closed its connection.
      worker.ref();
      await exited;
    },
  };
}

function openDatabase(path: string): Database.Database {
  if (path !== ":memory:") {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    // SQLite would create the file 0644 (less umask); its -wal and -shm files copy the database's mode.
    closeSync(openSync(path, "a", 0o600));
    chmodSync(path, 0o600);
  }
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  // In WAL mode with synchronous=NORMAL a commit has been written (write(2)) to the
  // -wal file before it returns; only the fsync waits for checkpoints. So an
  // acknowledged put survives the death of the process (SIGKILL, OOM kill, a
  // container restart) and the database is never corrupted; only a power loss or
  // kernel crash can drop the last few commits. FULL would fsync on every commit,
  // several times slower per write, for a failure that replicated PostgreSQL covers.
  db.pragma("synchronous = NORMAL");
  db.pragma("busy_timeout = 5000");
  // A rowid table: its rows are appended in rowid order and only the key's index takes the random
  // inserts. Stored values run to hundreds of bytes (a token entry, a lease), and in a WITHOUT ROWID
  // table every insert at a random key moves and splits pages of such rows: a login's four writes cost
  // about twice as much there (bench/RESULTS.md). A database created by an earlier version keeps its
  // WITHOUT ROWID table; every statement here reads and writes both the same way.
  db.exec("CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB NOT NULL)");
  return db;
}

/** Vault's ListPage: a limit of zero or less means no limit. */
const reached = (count: number, limit?: number) => limit !== undefined && limit > 0 && count >= limit;

/** The smallest lower bound for keys strictly after `prefix + after` ("\0" is the smallest code point). */
const lowerBound = (prefix: string, after?: string) => (after === undefined ? prefix : prefix + after + "\u0000");

/**
 * Immediate children of `prefix`. A child with a subtree is reported once and
 * its subtree is skipped with a new range read starting past it, so a folder
 * holding a million keys costs one seek, not a million rows.
 */
function listOver(range: KeyRange, prefix: string, after?: string, limit?: number): string[] {
  const out: string[] = [];
  const upper = prefixSuccessor(prefix);
  let lower: string | undefined = lowerBound(prefix, after);
  while (lower !== undefined) {
    let skipTo: string | undefined;
    for (const key of range(lower, upper)) {
      const rest = key.slice(prefix.length);
      const slash = rest.indexOf("/");
      const child = slash === -1 ? rest : rest.slice(0, slash + 1);
      if (after === undefined || compareKeys(child, after) > 0) {
        out.push(child);
        if (reached(out.length, limit)) return out;
      }
      if (slash !== -1) {
        skipTo = prefixSuccessor(prefix + child);
        break;
      }
    }
    lower = skipTo;
  }
  return out;
}

function scanOver(range: KeyRange, prefix: string, after?: string, limit?: number): string[] {
  const out: string[] = [];
  for (const key of range(lowerBound(prefix, after), prefixSuccessor(prefix))) {
    out.push(key.slice(prefix.length));
    if (reached(out.length, limit)) break;
  }
  return out;
}

/** The committed keys of a range merged with a transaction's buffered puts and deletes, still in order. */
function* mergeWrites(
  committed: Iterable<string>,
  writes: PendingWrites,
  lower: string,
  upper: string | undefined,
): Generator<string> {
  const pending = [...writes.keys()]
    .filter((k) => compareKeys(k, lower) >= 0 && (upper === undefined || compareKeys(k, upper) < 0))
    .sort(compareKeys);
  let i = 0;
  for (const key of committed) {
    while (i < pending.length && compareKeys(pending[i], key) < 0) {
      const k = pending[i++];
      if (writes.get(k)) yield k;
    }
    // A key written in the transaction comes from `pending` (or not at all, if deleted).
    if (!writes.has(key)) yield key;
  }
  for (; i < pending.length; i++) if (writes.get(pending[i])) yield pending[i];
}

/** Database failures surface as 503 (an upstream failed), never as a client error or a bare 500. */
function guard<T>(op: () => T): T {
  try {
    return op();
  } catch (err) {
    if (err instanceof LatchkeyError) throw err;
    // SQLITE_FULL: the file system (or a quota) has no room for the database or its WAL. The
    // transaction was rolled back; reads go on, and writes succeed again once space is freed.
    if (err instanceof Database.SqliteError && err.code === "SQLITE_FULL") {
      throw upstreamError(503, "storage is full: the SQLite database could not grow (SQLITE_FULL); free space on its file system", err);
    }
    const code = err instanceof Database.SqliteError ? `: ${err.code}` : "";
    throw upstreamError(503, `sqlite storage failed${code}`, err);
  }
}
