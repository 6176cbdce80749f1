import pg from "pg";
import { LatchkeyError, upstreamError } from "../core/errors.js";
import { compareKeys, prefixSuccessor } from "./keys.js";
import type { PhysicalReader, PhysicalStore, PhysicalTx } from "./types.js";

export interface PostgresStoreOptions {
  /** A libpq connection URL; never logged, never part of an error message. */
  url: string;
  /** Connections in the pool (default 10). */
  poolSize?: number;
  /** The schema holding the `kv` table, created on first use (default `latchkey`). */
  schema?: string;
  /** How long a request waits for a connection before it fails with 503 (default 5 s). */
  connectTimeoutMs?: number;
  /** How often a transaction that lost a serialization race is run again (default 20). */
  maxRetries?: number;
  /** Transactions this store runs at once; the others wait their turn (default 4). */
  concurrentTransactions?: number;
}

/** The PostgreSQL store, which also counts its serialization retries (`latchkey_storage_transaction_retries_total`). */
export interface PostgresStore extends PhysicalStore {
  transactionRetries(): number;
}

/** Schema names are plain identifiers: the config says which, and nothing needs quoting. */
export const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** Rows fetched per round trip while `list` walks a folder's direct children. */
const LIST_BATCH = 256;

/** PostgreSQL error codes for a serialization failure or a deadlock: the transaction is run again. */
const RETRYABLE = new Set(["40001", "40P01"]);

/**
 * The shared physical store for several replicas: one `kv` table in PostgreSQL,
 * keys in the "C" collation so that ranges and ORDER BY follow byte order exactly
 * as SQLite's BINARY collation does (see compareKeys). Transactions are
 * SERIALIZABLE and run again when PostgreSQL reports a serialization failure.
 */
export function createPostgresStore(opts: PostgresStoreOptions): PostgresStore {
  const schema = opts.schema ?? "latchkey";
  if (!SCHEMA_NAME.test(schema)) throw new Error(`invalid postgresql schema name "${schema}"`);
  const table = `${pg.escapeIdentifier(schema)}.kv`;
  const maxRetries = opts.maxRetries ?? 20;
  const connectTimeoutMs = opts.connectTimeoutMs ?? 5000;
  const pool = new pg.Pool({
    connectionString: opts.url,
    max: opts.poolSize ?? 10,
    connectionTimeoutMillis: connectTimeoutMs,
    idleTimeoutMillis: 30_000,
    application_name: "latchkey",
    // PostgreSQL plans a seq scan for a key lookup on a small table, and in a SERIALIZABLE
    // transaction a seq scan takes a predicate lock on the whole table: every concurrent
    // write then conflicts with it, and logins or KV writes of different keys fail to
    // serialise. Every query here is a key or range read the primary key serves, so the
    // index is always the plan: its predicate locks cover only the index pages read.
    options: "-c enable_seqscan=off",
  });
  // An idle connection that the server closes (a restart, a failover) is dropped
  // by the pool; the next request opens a new one.
  pool.on("error", () => undefined);

  let retries = 0;
  const gate = createGate(Math.max(1, opts.concurrentTransactions ?? 4), connectTimeoutMs);
  let ready: Promise<void> | undefined;
  const ensureSchema = () =>
    (ready ??= createSchema(pool, schema, table).catch((err) => {
      ready = undefined;
      throw err;
    }));

  type Query = (text: string, values: unknown[]) => Promise<pg.QueryResult>;
  const poolQuery: Query = async (text, values) => {
    await ensureSchema();
    return pool.query(text, values);
  };

  function reader(query: Query): PhysicalReader {
    const keys = async (lower: string, inclusive: boolean, upper: string | undefined, limit?: number) => {
      const values: unknown[] = [encodeKey(lower)];
      let sql = `SELECT key FROM ${table} WHERE key ${inclusive ? ">=" : ">"} $1`;
      if (upper !== undefined) sql += ` AND key < $${values.push(encodeKey(upper))}`;
      sql += " ORDER BY key";
      if (limit !== undefined && limit > 0) sql += ` LIMIT $${values.push(limit)}`;
      return (await query(sql, values)).rows.map((row: { key: string }) => decodeKey(row.key));
    };
    return {
      get: (key) =>
        guard(async () => {
          const { rows } = await query(`SELECT value FROM ${table} WHERE key = $1`, [encodeKey(key)]);
          return rows.length === 0 ? undefined : new Uint8Array(rows[0].value as Buffer);
        }),
      scan: (prefix, after, limit) =>
        guard(async () => {
          const lower = after === undefined ? prefix : prefix + after;
          const found = await keys(lower, after === undefined, prefixSuccessor(prefix), limit);
          return found.map((key) => key.slice(prefix.length));
        }),
      // Immediate children: a child with a subtree is reported once, and the next
      // read starts past its subtree, so a folder holding a million keys costs one
      // index seek per child, not a million rows.
      list: (prefix, after, limit) =>
        guard(async () => {
          const out: string[] = [];
          const upper = prefixSuccessor(prefix);
          let lower: string | undefined = after === undefined ? prefix : prefix + after;
          let inclusive = after === undefined;
          while (lower !== undefined) {
            const batch = await keys(lower, inclusive, upper, LIST_BATCH);
            let skipTo: string | undefined;
            for (const key of batch) {
              const rest = key.slice(prefix.length);
              const slash = rest.indexOf("/");
              const child = slash === -1 ? rest : rest.slice(0, slash + 1);
              if (after === undefined || compareKeys(child, after) > 0) {
                out.push(child);
                if (limit !== undefined && limit > 0 && out.length >= limit) return out;
              }
              if (slash !== -1) {
                skipTo = prefixSuccessor(prefix + child);
                break;
              }
            }
            if (skipTo !== undefined) {
              lower = skipTo;
              inclusive = true;
            } else {
              // A batch of leaves only: go on after its last key, unless it was the last batch.
              lower = batch.length < LIST_BATCH ? undefined : batch[batch.length - 1];
              inclusive = false;
            }
          }
          return out;
        }),
    };
  }

  function writer(query: Query) {
    return {
      put: (key: string, value: Uint8Array) =>
        guard(async () => {
          await query(
            `INSERT INTO ${table} (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
            [encodeKey(key), Buffer.from(value.buffer, value.byteOffset, value.byteLength)],
          );
        }),
      delete: (key: string) =>
        guard(async () => {
          await query(`DELETE FROM ${table} WHERE key = $1`, [encodeKey(key)]);
        }),
    };
  }

  async function attempt<T>(fn: (tx: PhysicalTx) => Promise<T>): Promise<T> {
    await guard(ensureSchema);
    const client = await guard(() => pool.connect());
    // A connection that breaks while the transaction waits on `fn` emits an
    // error event; the next query on it fails, and it is not reused.
    let broken: Error | undefined;
    const onError = (err: Error) => void (broken = err);
    client.on("error", onError);
    const query: Query = (text, values) => client.query(text, values);
    try {
      await guard(() => client.query("BEGIN ISOLATION LEVEL SERIALIZABLE"));
      let result: T;
      try {
        result = await fn({ ...reader(query), ...writer(query) });
        await guard(() => client.query("COMMIT"));
      } catch (err) {
        await client.query("ROLLBACK").catch((rollbackErr: Error) => void (broken ??= rollbackErr));
        throw err;
      }
      return result;
    } finally {
      client.off("error", onError);
      client.release(broken);
    }
  }

  const store: PostgresStore = {
    ...reader(poolQuery),
    ...writer(poolQuery),
    async transaction<T>(fn: (tx: PhysicalTx) => Promise<T>): Promise<T> {
      for (let tries = 0; ; tries++) {
        try {
          return await gate(() => attempt(fn));
        } catch (err) {
          if (!(isRetryable(err) && tries < maxRetries)) throw err;
          retries++;
          // Jittered backoff so that the transactions that collided do not collide again.
          await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(100, 2 ** tries)));
        }
      }
    },
    transactionRetries: () => retries,
    async close() {
      await pool.end();
    },
  };
  return store;
}

/**
 * At most `limit` transactions of one store in flight. PostgreSQL's serializable
 * isolation tracks reads per index page, so concurrent transactions on keys that
 * share a page look like conflicts and are run again: more than a few at once
 * cost more in retries than they gain. Plain reads and writes bypass the gate.
 */
function createGate(limit: number, waitMs: number): <T>(op: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: Array<() => void> = [];
  return async (op) => {
    if (active >= limit) {
      // Bounded like the pool's own wait. Slots held this long are transactions the database
      // has not answered (a connect or a statement hanging): say so now, not after a queue of
      // connect timeouts has added up to minutes.
      await new Promise<void>((resolve, reject) => {
        const turn = () => {
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          waiting.splice(waiting.indexOf(turn), 1);
          reject(upstreamError(503, "postgresql storage failed: the database is unreachable"));
        }, waitMs);
        waiting.push(turn);
      });
    } else active++;
    try {
      return await op();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else active--;
    }
  };
}

async function createSchema(pool: pg.Pool, schema: string, table: string): Promise<void> {
  const client = await pool.connect();
  try {
    // Replicas starting together would race on CREATE ... IF NOT EXISTS; one at a time.
    await client.query("BEGIN");
    await client.query("SELECT pg_advisory_xact_lock(hashtext('latchkey.schema'))");
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${pg.escapeIdentifier(schema)}`);
    await client.query(`CREATE TABLE IF NOT EXISTS ${table} (key text COLLATE "C" PRIMARY KEY, value bytea NOT NULL)`);
    await client.query("COMMIT");
    client.release();
  } catch (err) {
    client.release(err as Error);
    throw err;
  }
}

/**
 * PostgreSQL text cannot hold NUL, which a key may contain. Keys are stored
 * with U+0000 written as U+0001 U+0001 and U+0001 as U+0001 U+0002: the
 * encoding keeps byte order and prefixes (U+0001 is always followed by a
 * second unit), so ranges and ORDER BY work on stored keys unchanged, and
 * keys without either character (all of latchkey's own) are stored as they are.
 */
function encodeKey(key: string): string {
  return /[\u0000\u0001]/.test(key) ? key.replace(/[\u0000\u0001]/g, (c) => (c === "\u0000" ? "\u0001\u0001" : "\u0001\u0002")) : key;
}

function decodeKey(stored: string): string {
  return stored.includes("\u0001") ? stored.replace(/\u0001([\u0001\u0002])/g, (_, c: string) => (c === "\u0001" ? "\u0000" : "\u0001")) : stored;
}

const sqlState = (err: unknown) => (err as { code?: unknown } | undefined)?.code;

function isRetryable(err: unknown): boolean {
  const cause = err instanceof LatchkeyError ? err.cause : err;
  return RETRYABLE.has(sqlState(cause) as string);
}

/** Socket errors, a server shutting down or not yet accepting connections, a connect timeout. */
function isUnreachable(err: unknown): boolean {
  const code = sqlState(err);
  if (typeof code === "string" && (/^(08|57P0)/.test(code) || /^E[A-Z]+$/.test(code))) return true;
  const message = err instanceof Error ? err.message : "";
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|connect ECONNREFUSED/.test(message);
}

/**
 * Database failures surface as 503 (an upstream failed), never as a client
 * error or a bare 500. The message names the SQLSTATE only: PostgreSQL's own
 * messages can quote the statement's parameters.
 */
async function guard<T>(op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (err) {
    if (err instanceof LatchkeyError) throw err;
    if (isUnreachable(err)) throw upstreamError(503, "postgresql storage failed: the database is unreachable", err);
    const code = sqlState(err);
    throw upstreamError(503, `postgresql storage failed${typeof code === "string" ? `: ${code}` : ""}`, err);
  }
}
