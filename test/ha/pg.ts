import { randomBytes } from "node:crypto";
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

/** Runs one statement as the test role, outside any store. */
export async function pgQuery<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values: unknown[] = []) {
  const client = new pg.Client({ connectionString: pgUrl() });
  await client.connect();
  try {
    return await client.query<R>(text, values);
  } finally {
    await client.end();
  }
}

export const dropSchema = (schema: string) => pgQuery(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`);

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
