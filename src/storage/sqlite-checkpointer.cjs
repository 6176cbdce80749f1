// The SQLite store's checkpointer (see startCheckpointer in sqlite.ts), a
// worker thread with its own connection to the database: it copies the WAL's
// pages back into the database file, two fsyncs and a page copy per
// checkpoint, work that SQLite would otherwise do inside whichever commit
// crossed `wal_autocheckpoint`, blocking the event loop meanwhile.
//
// The main thread counts its commits in signal[0]; this thread sleeps until
// the count moves, waits `intervalMs` for more commits to gather, and runs a
// PASSIVE checkpoint, which never blocks the writer. signal[1] set to 1 ends
// it. Plain CommonJS, so that the same file runs from src/ (tests), dist/ and,
// bundled, beside the executable.
"use strict";
const { workerData } = require("node:worker_threads");
const Database = require("better-sqlite3");

const COMMITS = 0;
const STOP = 1;
const { path, intervalMs, signal } = workerData;
const db = new Database(path);
try {
  db.pragma("busy_timeout = 5000");
  // As the main connection: the WAL is synced before its pages are copied, the database file after.
  db.pragma("synchronous = NORMAL");
  // From zero, not the current count: commits made while this thread started are checkpointed too.
  let seen = 0;
  while (Atomics.load(signal, STOP) === 0) {
    Atomics.wait(signal, COMMITS, seen);
    if (Atomics.load(signal, STOP) !== 0) break;
    Atomics.wait(signal, STOP, 0, intervalMs);
    seen = Atomics.load(signal, COMMITS);
    try {
      db.pragma("wal_checkpoint(PASSIVE)");
    } catch {
      // A full disk (SQLITE_FULL) or an I/O error: the pages stay in the WAL,
      // which the main connection still reads and syncs; the next commit tries again.
    }
  }
} finally {
  db.close();
}
