import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import pg from "pg";
import { createPostgresStore, type PostgresStoreOptions } from "../../src/storage/postgres.js";

/** The test database that scripts/pg-test-server.sh (run by scripts/test.sh) starts; a test without it fails, never skips. */
export function pgUrl(): string {
  const url = process.env.LATCHKEY_TEST_PG_URL;
  if (!url) {
    throw new Error(
      'LATCHKEY_TEST_PG_URL is not set: run `eval "$(scripts/pg-test-server.sh start >&2 && scripts/pg-test-server.sh env)"` or npm test',
    );
  }
  return url;
}

/** A schema name no other test uses, so test files share one database. */
export const uniqueSchema = (label = "t") => `lk_${label}_${randomBytes(5).toString("hex")}`;

/** Runs one statement as the test role (of the shared test server unless `url` names another), outside any store. */
export async function pgQuery<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values: unknown[] = [], url = pgUrl()) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query<R>(text, values);
  } finally {
    await client.end();
  }
}

export const dropSchema = (schema: string, url = pgUrl()) => pgQuery(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`, [], url);

/** A fresh store in its own schema; `cleanup` closes it and drops the schema. */
export async function tempPgStore(opts: Partial<PostgresStoreOptions> = {}) {
  const schema = opts.schema ?? uniqueSchema();
  const store = createPostgresStore({ url: pgUrl(), ...opts, schema });
  const cleanup = async () => {
    await store.close();
    await dropSchema(schema);
  };
  return { schema, store, cleanup };
}

const PG_SCRIPT = fileURLToPath(new URL("../../scripts/pg-test-server.sh", import.meta.url));
const run = promisify(execFile);

/**
 * A PostgreSQL server of a test's own (scripts/pg-test-server.sh with its own
 * state directory and a fixed port), for a test that stops the database: the
 * shared test server is never stopped. `halt` is `pg_ctl stop -m fast` keeping
 * the data; `resume` starts it again on the same port; `destroy` removes it.
 */
export async function privatePgServer(label: string) {
  const dir = `/tmp/latchkey-pg-${label}-${randomBytes(4).toString("hex")}`;
  const port = await freePort();
  const script = (cmd: string) => run("bash", [PG_SCRIPT, cmd], { env: { ...process.env, LATCHKEY_PG_DIR: dir, LATCHKEY_PG_PORT: String(port) }, timeout: 120_000 });
  await script("start");
  const env = readFileSync(`${dir}/env`, "utf8");
  const url = /LATCHKEY_TEST_PG_URL=(\S+)/.exec(env)?.[1];
  if (!url) throw new Error(`no LATCHKEY_TEST_PG_URL in ${dir}/env`);
  return {
    url,
    halt: () => script("halt"),
    resume: () => script("start"),
    destroy: () => script("stop"),
  };
}

async function freePort(): Promise<number> {
  const { createServer } = await import("node:net");
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === "object" && addr ? resolve(addr.port) : reject(new Error("no port"))));
    });
  });
}
