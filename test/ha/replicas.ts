import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { api, startServerProcess, type ServerProcess } from "../helpers/process.js";
import { dropSchema, pgUrl, uniqueSchema } from "./pg.js";

/**
 * Real `latchkey server` processes sharing one PostgreSQL schema, each reading
 * the URL from a file and unsealing itself from one key file; `cleanup` kills
 * them and drops the schema. `url` is the shared test server's unless given.
 */
export function pgReplicas(label: string, logLevel = "warn", url = pgUrl()) {
  const dir = mkdtempSync(join(tmpdir(), `latchkey-pg-${label}-`));
  const schema = uniqueSchema(label);
  const servers: ServerProcess[] = [];
  writeFileSync(join(dir, "pg-url"), `${url}\n`, { mode: 0o600 });
  const config = join(dir, "latchkey.yaml");
  writeFileSync(
    config,
    [
      `listener: {address: "127.0.0.1:0"}`,
      `storage: {postgres: {url_file: ${join(dir, "pg-url")}, schema: ${schema}, pool_size: 4}}`,
      `seal: {auto: {key_file: ${join(dir, "unseal.key")}}}`,
      `log_level: ${logLevel}`,
    ].join("\n"),
  );
  return {
    schema,
    servers,
    /** Starts one more replica; `env` is added to its environment (e.g. LATCHKEY_API_ADDR). */
    async start(env: Record<string, string> = {}): Promise<ServerProcess> {
      const server = await startServerProcess(["--config", config], env);
      servers.push(server);
      return server;
    },
    async cleanup(): Promise<void> {
      await Promise.all(servers.map((s) => s.stop("SIGKILL")));
      await dropSchema(schema, url);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Polls `fn` every 25 ms until it returns something other than undefined (a throw counts as undefined). */
export async function poll<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Polls `check` until it holds; resolves with the milliseconds it took. */
export async function within(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<number> {
  const started = Date.now();
  await poll(what, async () => ((await check()) ? true : undefined), timeoutMs);
  return Date.now() - started;
}

/** Initialises the shared store through `server` with one unseal key (the replicas unseal themselves); returns the root token. */
export async function initRoot(server: ServerProcess): Promise<string> {
  const init = await api(server.address, "PUT", "sys/init", undefined, { secret_shares: 1, secret_threshold: 1 });
  if (init.status !== 200) throw new Error(`sys/init answered ${init.status}: ${init.text}`);
  return init.json.root_token as string;
}

/** The one replica of `replicas` that says it leads, or undefined while there is not exactly one. */
export async function leaderOf(replicas: ServerProcess[]): Promise<ServerProcess | undefined> {
  const views = await Promise.all(replicas.map(async (s) => ({ s, json: (await api(s.address, "GET", "sys/leader")).json })));
  const leaders = views.filter((v) => v.json.is_self === true);
  return leaders.length === 1 ? leaders[0].s : undefined;
}

/** The lease ids the servers' debug logs say were revoked, once per revocation. */
export function revokedLeases(servers: ServerProcess[]): string[] {
  const ids: string[] = [];
  for (const s of servers) {
    for (const line of s.output().split("\n")) {
      if (!line.startsWith("{")) continue;
      try {
        const rec = JSON.parse(line) as { msg?: string; lease_id?: string };
        if (rec.msg === "lease revoked" && rec.lease_id) ids.push(rec.lease_id);
      } catch {
        // not a log record
      }
    }
  }
  return ids;
}
