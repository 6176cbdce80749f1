import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { startLatchkey, type LatchkeyServer } from "./latchkey.js";
import { REPO } from "./processes.js";
import type { BenchContext } from "./types.js";

/**
 * The PostgreSQL server of the HA scenarios: LATCHKEY_TEST_PG_URL when set,
 * else the one scripts/pg-test-server.sh runs (exported into this process);
 * an error message when there is neither.
 */
export function useTestDatabase(): string | undefined {
  if (process.env.LATCHKEY_TEST_PG_URL) return undefined;
  const script = join(REPO, "scripts", "pg-test-server.sh");
  if (spawnSync("bash", [script, "status"]).status !== 0) return "no PostgreSQL server (scripts/pg-test-server.sh start)";
  const env = spawnSync("bash", [script, "env"], { encoding: "utf8" });
  const url = /^export LATCHKEY_TEST_PG_URL=(.*)$/m.exec(env.stdout)?.[1]?.replace(/^'|'$/g, "");
  if (!url) return `scripts/pg-test-server.sh env printed no LATCHKEY_TEST_PG_URL: ${env.stderr.trim()}`;
  process.env.LATCHKEY_TEST_PG_URL = url;
  return undefined;
}

/**
 * `count` latchkey servers on one fresh PostgreSQL schema, each pinned to the
 * server CPU, sharing one auto-unseal key; the first initialises the store.
 * The schema is dropped after the scenario.
 */
export async function startPgReplicas(ctx: BenchContext, count: number, label: string): Promise<LatchkeyServer[]> {
  const url = process.env.LATCHKEY_TEST_PG_URL!;
  const schema = `lk_bench_${randomBytes(4).toString("hex")}`;
  const urlFile = join(ctx.workDir, "pg-url");
  writeFileSync(urlFile, `${url}\n`, { mode: 0o600 });
  ctx.defer(async () => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`).finally(() => client.end());
  });
  const storage = `{postgres: {url_file: "${urlFile}", schema: ${schema}, pool_size: 8}}`;
  const first = await startLatchkey(ctx, { mode: "config", storage }, `${label}-0`);
  const servers = [first];
  for (let i = 1; i < count; i++) {
    servers.push(await startLatchkey(ctx, { mode: "config", storage, rootToken: first.rootToken }, `${label}-${i}`));
  }
  return servers;
}
