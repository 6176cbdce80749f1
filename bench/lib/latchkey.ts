import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Agent, request, type Dispatcher } from "undici";
import { LATCHKEY_BIN, spawnNode, waitForOutput, type BenchProcess } from "./processes.js";
import type { BenchContext } from "./types.js";

/** A latchkey server process started for one scenario, with the root token of its store. */
export interface LatchkeyServer {
  process: BenchProcess;
  address: string;
  rootToken: string;
  /** The SQLite file (config-file mode). */
  dbPath?: string;
}

export interface LatchkeyServerOptions {
  /**
   * `dev`: `latchkey server --dev` (throwaway SQLite store, unsealed, KV v2 at secret/).
   * `config`: a config file with SQLite storage and the auto seal, so it starts unattended;
   * a new store is initialised through sys/init.
   */
  mode: "dev" | "config";
  /** Config mode: directory of the store, config and unseal key (default: the scenario's work dir). */
  dataDir?: string;
  /** Config mode: the root token of an already initialised store. */
  rootToken?: string;
  /** Seconds between expiration-manager ticks (config mode). */
  leaseTick?: string;
  /** Config mode: the `storage:` value (YAML flow mapping) instead of SQLite in the data dir. */
  storage?: string;
}

const DEV_ROOT_TOKEN = "lks.bench-root";

/** Writes the config of an auto-seal server (SQLite in `dataDir` unless `storage` says otherwise) on a free loopback port; returns its path. */
export function writeServerConfig(dataDir: string, leaseTick = "1s", storage?: string): string {
  mkdirSync(dataDir, { recursive: true });
  const file = join(dataDir, "latchkey.yaml");
  writeFileSync(
    file,
    [
      `listener: {address: "127.0.0.1:0"}`,
      `storage: ${storage ?? `{sqlite: {path: "${join(dataDir, "latchkey.db")}"}}`}`,
      `seal: {auto: {key_file: "${join(dataDir, "unseal.key")}"}}`,
      `log_level: warn`,
      `lease_tick: ${leaseTick}`,
      ``,
    ].join("\n"),
  );
  return file;
}

/** Node flags for a process under test: a CPU profile per process when the run asks for profiles. */
export function profileFlags(ctx: BenchContext, label: string): string[] {
  const dir = ctx.settings.cpuProfDir;
  return dir ? ["--cpu-prof", `--cpu-prof-dir=${dir}`, `--cpu-prof-name=${label}-${Date.now()}.cpuprofile`] : [];
}

/** Starts `latchkey server` pinned to the server CPU and waits until it listens (and, in config mode, is unsealed). */
export async function startLatchkey(ctx: BenchContext, opts: LatchkeyServerOptions, label: string): Promise<LatchkeyServer> {
  const dataDir = opts.dataDir ?? ctx.workDir;
  const args =
    opts.mode === "dev"
      ? ["server", "--dev", "--dev-root-token", DEV_ROOT_TOKEN, "--listen", "127.0.0.1:0", "--log-level", "warn"]
      : ["server", "--config", writeServerConfig(dataDir, opts.leaseTick, opts.storage)];
  const process = spawnNode([LATCHKEY_BIN, ...args], {
    cpus: ctx.settings.cpus?.server,
    nodeFlags: profileFlags(ctx, label),
  });
  ctx.defer(() => process.stop());
  const [, address] = await waitForOutput(process, /Address:\s+(\S+)/);
  if (opts.mode === "dev") return { process, address, rootToken: DEV_ROOT_TOKEN };

  let rootToken = opts.rootToken;
  if (!rootToken) {
    const init = await api<{ root_token: string }>(address, "PUT", "sys/init", undefined, {});
    rootToken = init.root_token;
  }
  await waitUntilReady(address);
  return { process, address, rootToken, ...(opts.storage === undefined && { dbPath: join(dataDir, "latchkey.db") }) };
}

/** Polls sys/health until it answers 200 (initialised and unsealed). */
export async function waitUntilReady(address: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await fetch(`${address}/v1/sys/health`).catch(() => undefined);
    if (res?.status === 200) return;
    if (Date.now() > deadline) throw new Error(`${address} not ready after ${timeoutMs} ms (last status ${res?.status})`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** One call of the latchkey API; throws with the server's errors on a non-2xx answer. */
export async function api<T = Record<string, unknown>>(
  address: string,
  method: string,
  path: string,
  token?: string,
  body?: unknown,
): Promise<T> {
  const res = await fetch(`${address}/v1/${path}`, {
    method,
    headers: apiHeaders(token),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return apiResult<T>(method, path, res.status, await res.text());
}

const apiHeaders = (token: string | undefined) => ({ ...(token ? { "x-vault-token": token } : {}), "content-type": "application/json" });

function apiResult<T>(method: string, path: string, status: number, text: string): T {
  if (status < 200 || status >= 300) throw new Error(`${method} ${path}: ${status} ${text}`);
  return (text === "" ? {} : JSON.parse(text)) as T;
}

/**
 * `api` over one keep-alive undici Agent, closed after the scenario: the
 * client the kube client is, so that a scenario timing latchkey against
 * direct Kubernetes calls pays the same client costs on both sides.
 */
export function pooledApi(ctx: BenchContext): typeof api {
  const agent = new Agent({ keepAliveTimeout: 30_000 });
  ctx.defer(() => agent.close());
  return async function pooled<T = Record<string, unknown>>(address: string, method: string, path: string, token?: string, body?: unknown): Promise<T> {
    const res = await request(`${address}/v1/${path}`, {
      method: method as Dispatcher.HttpMethod,
      headers: apiHeaders(token),
      body: body === undefined ? undefined : JSON.stringify(body),
      dispatcher: agent,
    });
    return apiResult<T>(method, path, res.statusCode, await res.body.text());
  };
}

/** Writes an ACL policy (HCL) and returns a token that has it (plus `default`). */
export async function tokenWithPolicy(address: string, rootToken: string, name: string, hcl: string): Promise<string> {
  await api(address, "PUT", `sys/policies/acl/${name}`, rootToken, { policy: hcl });
  const created = await api<{ auth: { client_token: string } }>(address, "POST", "auth/token/create", rootToken, {
    policies: [name],
    ttl: "24h",
  });
  return created.auth.client_token;
}
