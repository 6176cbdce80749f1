import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startServerProcess, type ServerProcess } from "../helpers/process.js";
import { dropSchema, pgUrl, uniqueSchema } from "./pg.js";

/**
 * Real `latchkey server` processes sharing one PostgreSQL schema, each reading
 * the URL from a file and unsealing itself from one key file; `cleanup` kills
 * them and drops the schema.
 */
export function pgReplicas(label: string, logLevel = "warn") {
  const dir = mkdtempSync(join(tmpdir(), `latchkey-pg-${label}-`));
  const schema = uniqueSchema(label);
  const servers: ServerProcess[] = [];
  writeFileSync(join(dir, "pg-url"), `${pgUrl()}\n`, { mode: 0o600 });
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
    async start(): Promise<ServerProcess> {
      const server = await startServerProcess(["--config", config]);
      servers.push(server);
      return server;
    },
    async cleanup(): Promise<void> {
      await Promise.all(servers.map((s) => s.stop("SIGKILL")));
      await dropSchema(schema);
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
