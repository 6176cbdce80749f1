import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const BIN = fileURLToPath(new URL("../../bin/latchkey.js", import.meta.url));

export interface ServerProcess {
  proc: ChildProcess;
  address: string;
  output: () => string;
  /** Sends the signal and resolves with the exit code (or signal name). */
  stop(signal?: NodeJS.Signals): Promise<number | string | null>;
}

export interface ServerCommand {
  /** What runs before `server ARGS...`; by default this node with the built bin/latchkey.js. */
  command?: string[];
  /** Start from an empty environment (only `env`), as a packaged executable is tested; by default this process's. */
  bareEnv?: boolean;
  cwd?: string;
  /** How long to wait for the banner (default 20 s); a crash test restarting many servers on a loaded machine waits longer. */
  startTimeoutMs?: number;
}

/** Starts `latchkey server` (the built one, or `opts.command`) as a child process and waits for its banner. */
export async function startServerProcess(
  args: string[],
  env: Record<string, string> = {},
  opts: ServerCommand = {},
): Promise<ServerProcess> {
  const [cmd, ...prefix] = opts.command ?? [process.execPath, BIN];
  const proc = spawn(cmd, [...prefix, "server", ...args], {
    cwd: opts.cwd,
    env: opts.bareEnv ? env : { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  proc.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  proc.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | string | null>((resolve) => proc.once("exit", (code, sig) => resolve(code ?? sig)));
  const address = await new Promise<string>((resolve, reject) => {
    const timeoutMs = opts.startTimeoutMs ?? 20_000;
    const timer = setTimeout(() => reject(new Error(`server did not start in ${timeoutMs / 1000} s:\n${out}`)), timeoutMs);
    const check = () => {
      const m = /Address:\s+(\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    proc.stdout!.on("data", check);
    proc.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code}) before starting:\n${out}`));
    });
  });
  return {
    proc,
    address,
    output: () => out,
    stop: async (signal = "SIGTERM") => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI. `HOME` defaults to a fresh directory so no saved token leaks between tests. */
export function runCli(args: string[], env: Record<string, string> = {}, input?: string): CliResult {
  const res = spawnSync(process.execPath, [BIN, ...args], {
    env: { ...process.env, HOME: env.HOME ?? freshHome(), ...env },
    input,
    encoding: "utf8",
    timeout: 30_000,
  });
  return { code: res.status, stdout: res.stdout, stderr: res.stderr };
}

export function freshHome(): string {
  return mkdtempSync(join(tmpdir(), "latchkey-home-"));
}

/** A fetch of the running server's API, curl-style; `headers` adds to (or overrides) the token and content type. */
export async function api(
  address: string,
  method: string,
  path: string,
  token?: string,
  body?: unknown,
  headers: Record<string, string> = {},
) {
  const res = await fetch(`${address}/v1/${path}`, {
    method,
    headers: { ...(token ? { "x-vault-token": token } : {}), ...(body ? { "content-type": "application/json" } : {}), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  // Vault-shaped JSON; tests read arbitrary fields.
  let json: Record<string, any> = {};
  try {
    json = text ? JSON.parse(text) : {};
  } catch {
    json = {};
  }
  return { status: res.status, json, text };
}

/** A config in `dir`: loopback on a free port, SQLite in `dir`, auto-unseal with a key file in `dir`; returns its path. */
export function autoSealConfig(dir: string): string {
  const config = join(dir, "latchkey.yaml");
  writeFileSync(
    config,
    [
      `listener: {address: "127.0.0.1:0"}`,
      `storage: {sqlite: {path: ${join(dir, "latchkey.db")}}}`,
      `seal: {auto: {key_file: ${join(dir, "unseal.key")}}}`,
      `log_level: warn`,
    ].join("\n"),
  );
  return config;
}
