import { UsageError } from "../cli/errors.js";

export type OnChange =
  | { kind: "signal"; signal: NodeJS.Signals }
  | { kind: "http"; url: string }
  | { kind: "exec"; argv: readonly string[] };

export interface SecretSpec {
  name: string;
  /** API path under /v1/, e.g. `secret/data/app`. */
  path: string;
  template?: string;
  /** Where the file goes; default `<secrets-dir>/<name>`. */
  file?: string;
  mode: number;
}

/** The agent's whole configuration: what its flags say, nothing else. */
export interface AgentConfig {
  mode: "init" | "sidecar";
  addr: string;
  caFile?: string;
  authPath: string;
  role: string;
  tokenFile: string;
  secretsDir: string;
  secrets: readonly SecretSpec[];
  refreshMs: number;
  onChange?: OnChange;
  signalProcess?: string;
  readyFile?: string;
}

/** Files hold secrets: owner read-write, group read (the app may run as another user in the pod's fsGroup). */
export const DEFAULT_PERMS = 0o640;

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const SIGNALS = new Set(["SIGHUP", "SIGINT", "SIGQUIT", "SIGTERM", "SIGUSR1", "SIGUSR2", "SIGWINCH", "SIGCONT"]);

/** `NAME=VALUE` pairs of a repeatable flag, keyed by NAME. */
export function parsePairs(flag: string, values: readonly string[]): Map<string, string> {
  const pairs = new Map<string, string>();
  for (const item of values) {
    const eq = item.indexOf("=");
    const name = eq > 0 ? item.slice(0, eq) : "";
    if (!NAME.test(name)) throw new UsageError(`--${flag} "${item.slice(0, 60)}" must be NAME=VALUE with a NAME of letters, digits, ".", "_" or "-"`);
    if (pairs.has(name)) throw new UsageError(`--${flag} ${name} is given twice`);
    pairs.set(name, item.slice(eq + 1));
  }
  return pairs;
}

/** Go-style durations as Vault takes them (`90s`, `5m`, `1h30m`, `500ms`) or plain seconds. */
export function parseDuration(flag: string, text: string): number {
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
  let total = 0;
  let end = 0;
  for (const match of text.matchAll(re)) {
    total += Number(match[1]) * (unit[match[2] ?? "s"] ?? 1000);
    end = (match.index ?? 0) + match[0].length;
  }
  if (end !== text.length || text === "") throw new UsageError(`--${flag} "${text}" is not a duration (e.g. 30s, 5m, 1h)`);
  return total;
}

export function parsePerms(name: string, text: string): number {
  if (!/^0?[0-7]{3}$/.test(text)) throw new UsageError(`--perms ${name}=${text} must be an octal mode such as 0640`);
  return parseInt(text, 8);
}

/** `SIGHUP`, an http(s) URL to POST to, or `exec:<command and args>` (split on spaces, no shell). */
export function parseOnChange(text: string): OnChange {
  const upper = text.toUpperCase();
  const signal = upper.startsWith("SIG") ? upper : `SIG${upper}`;
  if (SIGNALS.has(signal)) return { kind: "signal", signal: signal as NodeJS.Signals };
  if (/^https?:\/\//.test(text)) {
    try {
      return { kind: "http", url: new URL(text).toString() };
    } catch {
      throw new UsageError(`--on-change ${text} is not a valid URL`);
    }
  }
  if (text.startsWith("exec:")) {
    const argv = text.slice(5).trim().split(/\s+/).filter((arg) => arg !== "");
    if (argv.length === 0) throw new UsageError("--on-change exec: needs a command");
    return { kind: "exec", argv };
  }
  throw new UsageError(`--on-change ${text} must be a signal (SIGHUP, SIGUSR1, ...), an http(s):// URL or exec:<command>`);
}

export interface AgentFlags {
  mode: string;
  addr?: string;
  caFile?: string;
  authPath: string;
  role?: string;
  tokenFile: string;
  secretsDir: string;
  secret: string[];
  template: string[];
  file: string[];
  perms: string[];
  refreshInterval: string;
  onChange?: string;
  signalProcess?: string;
  readyFile?: string;
}

/** Validates the flags as a whole, so a mistake stops the agent before it logs in. */
export function buildConfig(flags: AgentFlags): AgentConfig {
  if (flags.mode !== "init" && flags.mode !== "sidecar") throw new UsageError(`--mode ${flags.mode} must be init or sidecar`);
  if (!flags.addr) throw new UsageError("--addr (or LATCHKEY_ADDR) is required");
  try {
    new URL(flags.addr);
  } catch {
    throw new UsageError(`--addr ${flags.addr} is not a URL`);
  }
  if (!flags.role) throw new UsageError("--role is required");
  const paths = parsePairs("secret", flags.secret);
  if (paths.size === 0) throw new UsageError("give at least one --secret NAME=API_PATH");
  const templates = parsePairs("template", flags.template);
  const files = parsePairs("file", flags.file);
  const perms = parsePairs("perms", flags.perms);
  for (const [flag, pairs] of [["template", templates], ["file", files], ["perms", perms]] as const) {
    for (const name of pairs.keys()) if (!paths.has(name)) throw new UsageError(`--${flag} ${name} names no --secret ${name}=...`);
  }
  const secrets = [...paths].map(([name, path]): SecretSpec => {
    if (path.trim() === "") throw new UsageError(`--secret ${name} has an empty path`);
    const permsText = perms.get(name);
    return {
      name,
      path: path.replace(/^\/+/, "").replace(/^v1\//, ""),
      template: templates.get(name),
      file: files.get(name),
      mode: permsText === undefined ? DEFAULT_PERMS : parsePerms(name, permsText),
    };
  });
  const refreshMs = parseDuration("refresh-interval", flags.refreshInterval);
  if (refreshMs < 1000) throw new UsageError("--refresh-interval must be at least 1s");
  return {
    mode: flags.mode,
    addr: flags.addr,
    caFile: flags.caFile,
    authPath: flags.authPath.replace(/^\/+|\/+$/g, ""),
    role: flags.role,
    tokenFile: flags.tokenFile,
    secretsDir: flags.secretsDir,
    secrets,
    refreshMs,
    onChange: flags.onChange === undefined ? undefined : parseOnChange(flags.onChange),
    signalProcess: flags.signalProcess,
    readyFile: flags.readyFile,
  };
}
