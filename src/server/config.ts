import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { DEFAULT_MAX_JSON_DEPTH } from "../core/json-depth.js";
import { parseDuration } from "../core/tokens/duration.js";
import { SCHEMA_NAME } from "../storage/postgres.js";
import { DEFAULT_CACHE_ENTRIES } from "../storage/read-cache.js";

/** The `listener:` section; the limits are named after Vault's tcp listener options. */
export interface ListenerConfig {
  address: string;
  tlsCertFile?: string;
  tlsKeyFile?: string;
  /** `http_read_header_timeout`: the request line and headers must arrive within this. */
  readHeaderTimeoutMs: number;
  /** `http_read_timeout`: the whole request, body included, must arrive within this. */
  readTimeoutMs: number;
  /** `http_idle_timeout`: how long a keep-alive connection may wait for its next request. */
  idleTimeoutMs: number;
  /** `max_connections`: connections accepted beyond this many open ones are closed at once. */
  maxConnections: number;
  /** `max_json_depth`: request bodies nesting objects and arrays deeper than this get 400. */
  maxJsonDepth: number;
}

/** `latchkey server --config latchkey.yaml`; every key is documented in the README's configuration reference. */
export interface ServerConfig {
  listener: ListenerConfig;
  storage: { type: "sqlite"; path: string } | { type: "memory" } | PostgresStorageConfig;
  seal: { type: "shamir" } | { type: "auto"; keyFile: string };
  logLevel: string;
  /** Request body limit in bytes (Vault's max_request_size); default 1 MiB. */
  maxRequestSize: number;
  /** Expiration manager tick, seconds. */
  leaseTickSeconds: number;
  /** `max_inflight_requests`: requests beyond this many in progress get 503 with Retry-After; 0 is no cap. */
  maxInflightRequests: number;
  /**
   * `api_addr` (or `LATCHKEY_API_ADDR`, as Vault's `VAULT_API_ADDR`): the URL this
   * replica advertises as `leader_address` in sys/leader while it leads; by
   * default the address it listens on.
   */
  apiAddr?: string;
  /**
   * Vault's `cache_size`: stored values (still encrypted) the SQLite store keeps
   * in memory after a read; 0, or `disable_cache: true`, keeps none. PostgreSQL
   * keeps none, as other replicas write the same rows.
   */
  cacheSize: number;
}

/** `storage.postgres`: the shared store of a highly available deployment. The URL is a secret: never logged. */
export interface PostgresStorageConfig {
  type: "postgres";
  url: string;
  poolSize: number;
  schema: string;
}

export class ConfigError extends Error {
  override name = "ConfigError";
}

const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"];

export const DEFAULT_CONFIG: ServerConfig = {
  // Vault's defaults for the timeouts and the JSON depth.
  listener: {
    address: "127.0.0.1:8200",
    readHeaderTimeoutMs: 10_000,
    readTimeoutMs: 30_000,
    idleTimeoutMs: 300_000,
    maxConnections: 4096,
    maxJsonDepth: DEFAULT_MAX_JSON_DEPTH,
  },
  storage: { type: "sqlite", path: "./data/latchkey.db" },
  seal: { type: "shamir" },
  logLevel: "info",
  maxRequestSize: 1024 * 1024,
  leaseTickSeconds: 1,
  maxInflightRequests: 2048,
  cacheSize: DEFAULT_CACHE_ENTRIES,
};

export function loadConfigFile(path: string): ServerConfig {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    throw new ConfigError(`config file ${path} is not valid YAML: ${(err as Error).message}`);
  }
  return parseConfig(doc ?? {}, path);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function str(v: unknown, key: string, file: string): string | undefined {
  if (v === undefined || v === null || v === "") return undefined;
  if (typeof v !== "string") throw new ConfigError(`${file}: "${key}" must be a string`);
  return v;
}

function only(obj: Record<string, unknown>, allowed: string[], where: string, file: string) {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) throw new ConfigError(`${file}: unknown key "${where}${key}"`);
  }
}

export function parseConfig(doc: unknown, file = "config"): ServerConfig {
  if (!isObject(doc)) throw new ConfigError(`${file}: the top level must be a mapping`);
  only(doc, ["listener", "storage", "seal", "log_level", "max_request_size", "lease_tick", "max_inflight_requests", "api_addr", "cache_size", "disable_cache"], "", file);
  const cfg: ServerConfig = structuredClone(DEFAULT_CONFIG);

  if (doc.listener !== undefined) cfg.listener = parseListener(doc.listener, cfg.listener, file);
  if (doc.storage !== undefined) {
    if (!isObject(doc.storage)) throw new ConfigError(`${file}: "storage" must be a mapping`);
    only(doc.storage, ["sqlite", "memory", "postgres"], "storage.", file);
    if (Object.keys(doc.storage).length > 1) {
      throw new ConfigError(`${file}: storage must name one backend, not ${Object.keys(doc.storage).join(" and ")}`);
    }
    if (isObject(doc.storage.postgres)) {
      cfg.storage = parsePostgres(doc.storage.postgres, file);
    } else if (isObject(doc.storage.sqlite)) {
      only(doc.storage.sqlite, ["path"], "storage.sqlite.", file);
      const p = str(doc.storage.sqlite.path, "storage.sqlite.path", file);
      if (!p) throw new ConfigError(`${file}: storage.sqlite.path is required`);
      cfg.storage = { type: "sqlite", path: p };
    } else if (doc.storage.memory !== undefined) {
      cfg.storage = { type: "memory" };
    } else {
      throw new ConfigError(`${file}: storage must name one backend: sqlite, postgres or memory`);
    }
  }
  if (doc.seal !== undefined) {
    if (!isObject(doc.seal)) throw new ConfigError(`${file}: "seal" must be a mapping`);
    only(doc.seal, ["shamir", "auto"], "seal.", file);
    if (isObject(doc.seal.auto)) {
      only(doc.seal.auto, ["key_file"], "seal.auto.", file);
      const keyFile = str(doc.seal.auto.key_file, "seal.auto.key_file", file);
      if (!keyFile) throw new ConfigError(`${file}: seal.auto.key_file is required`);
      cfg.seal = { type: "auto", keyFile };
    } else if (doc.seal.shamir !== undefined) {
      cfg.seal = { type: "shamir" };
    } else {
      throw new ConfigError(`${file}: seal must name one type: shamir or auto`);
    }
  }
  if (doc.log_level !== undefined) {
    const level = str(doc.log_level, "log_level", file) ?? "info";
    if (!LOG_LEVELS.includes(level)) throw new ConfigError(`${file}: log_level must be one of ${LOG_LEVELS.join(", ")}`);
    cfg.logLevel = level;
  }
  if (doc.max_request_size !== undefined) {
    const n = doc.max_request_size;
    if (typeof n !== "number" || !Number.isInteger(n) || n <= 0) {
      throw new ConfigError(`${file}: max_request_size must be a positive number of bytes`);
    }
    cfg.maxRequestSize = n;
  }
  if (doc.lease_tick !== undefined) {
    try {
      cfg.leaseTickSeconds = Math.max(1, parseDuration(doc.lease_tick, "lease_tick"));
    } catch (err) {
      throw new ConfigError(`${file}: ${(err as Error).message}`);
    }
  }
  if (doc.max_inflight_requests !== undefined) {
    const n = doc.max_inflight_requests;
    if (typeof n !== "number" || !Number.isInteger(n) || n < 0) {
      throw new ConfigError(`${file}: max_inflight_requests must be a whole number, 0 for no cap`);
    }
    cfg.maxInflightRequests = n;
  }
  if (doc.api_addr !== undefined) cfg.apiAddr = parseApiAddr(doc.api_addr, `${file}: api_addr`);
  if (doc.cache_size !== undefined) {
    const n = doc.cache_size;
    if (typeof n !== "number" || !Number.isInteger(n) || n < 0) {
      throw new ConfigError(`${file}: cache_size must be a whole number of entries, 0 for no cache`);
    }
    cfg.cacheSize = n;
  }
  if (doc.disable_cache !== undefined) {
    if (typeof doc.disable_cache !== "boolean") throw new ConfigError(`${file}: disable_cache must be true or false`);
    if (doc.disable_cache) cfg.cacheSize = 0;
  }
  return cfg;
}

/** The environment variable that overrides `api_addr`, as VAULT_API_ADDR does Vault's. */
export const API_ADDR_ENV = "LATCHKEY_API_ADDR";

/** An `api_addr`: a full http(s) URL such as `https://latchkey-0.latchkey:8200`, kept without a trailing slash. */
export function parseApiAddr(value: unknown, where: string): string {
  const text = typeof value === "string" ? value.trim() : "";
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== "http:" && url.protocol !== "https:") || !url.hostname || url.search || url.hash || url.username) {
    throw new ConfigError(`${where} must be an http:// or https:// URL such as https://latchkey-0.latchkey:8200`);
  }
  return text.replace(/\/+$/, "");
}

const LISTENER_KEYS = [
  "address",
  "tls_cert_file",
  "tls_key_file",
  "http_read_header_timeout",
  "http_read_timeout",
  "http_idle_timeout",
  "max_connections",
  "max_json_depth",
];

function parseListener(doc: unknown, defaults: ListenerConfig, file: string): ListenerConfig {
  if (!isObject(doc)) throw new ConfigError(`${file}: "listener" must be a mapping`);
  only(doc, LISTENER_KEYS, "listener.", file);
  const listener: ListenerConfig = { ...defaults };
  listener.address = str(doc.address, "listener.address", file) ?? listener.address;
  parseHostPort(listener.address, `${file}: listener.address`);
  listener.tlsCertFile = str(doc.tls_cert_file, "listener.tls_cert_file", file);
  listener.tlsKeyFile = str(doc.tls_key_file, "listener.tls_key_file", file);
  if (Boolean(listener.tlsCertFile) !== Boolean(listener.tlsKeyFile)) {
    throw new ConfigError(`${file}: listener.tls_cert_file and listener.tls_key_file go together`);
  }
  const ms = (key: string, fallback: number) => timeoutMs(doc[key], `listener.${key}`, file) ?? fallback;
  listener.readHeaderTimeoutMs = ms("http_read_header_timeout", listener.readHeaderTimeoutMs);
  listener.readTimeoutMs = ms("http_read_timeout", listener.readTimeoutMs);
  listener.idleTimeoutMs = ms("http_idle_timeout", listener.idleTimeoutMs);
  // Node refuses a headers timeout longer than the whole-request timeout.
  if (listener.readHeaderTimeoutMs > listener.readTimeoutMs) {
    throw new ConfigError(`${file}: listener.http_read_header_timeout must not exceed listener.http_read_timeout`);
  }
  listener.maxConnections = positiveInt(doc.max_connections, "listener.max_connections", file) ?? listener.maxConnections;
  listener.maxJsonDepth = positiveInt(doc.max_json_depth, "listener.max_json_depth", file) ?? listener.maxJsonDepth;
  return listener;
}

/**
 * A Vault-style duration in milliseconds. Zero is refused: Vault reads it as
 * "no timeout", which is exactly the unbounded slow request these limits stop.
 */
function timeoutMs(value: unknown, key: string, file: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  let seconds: number;
  try {
    seconds = parseDuration(value, key);
  } catch (err) {
    throw new ConfigError(`${file}: ${(err as Error).message}`);
  }
  if (seconds < 1) throw new ConfigError(`${file}: ${key} must be at least 1s`);
  return seconds * 1000;
}

function positiveInt(value: unknown, key: string, file: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "number" || !Number.isInteger(value) || value <= 0) {
    throw new ConfigError(`${file}: ${key} must be a positive whole number`);
  }
  return value;
}

export function parseHostPort(address: string, what: string): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(address);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port < 0 || port > 65535) throw new ConfigError(`${what} must be host:port, got "${address}"`);
  return { host: m[1].replace(/^\[|\]$/g, ""), port };
}

/**
 * The connection URL comes from exactly one of `url`, `url_env` (the name of an
 * environment variable) or `url_file` (a file, e.g. a mounted Kubernetes
 * Secret); errors name the source, never the URL.
 */
function parsePostgres(pgDoc: Record<string, unknown>, file: string): PostgresStorageConfig {
  only(pgDoc, ["url", "url_env", "url_file", "pool_size", "schema"], "storage.postgres.", file);
  const url = str(pgDoc.url, "storage.postgres.url", file);
  const urlEnv = str(pgDoc.url_env, "storage.postgres.url_env", file);
  const urlFile = str(pgDoc.url_file, "storage.postgres.url_file", file);
  const given = [url, urlEnv, urlFile].filter((v) => v !== undefined).length;
  if (given !== 1) throw new ConfigError(`${file}: storage.postgres needs exactly one of url, url_env or url_file`);
  let resolved = url;
  if (urlEnv !== undefined) {
    resolved = process.env[urlEnv]?.trim();
    if (!resolved) throw new ConfigError(`${file}: storage.postgres.url_env names ${urlEnv}, which is not set`);
  }
  if (urlFile !== undefined) {
    try {
      resolved = readFileSync(urlFile, "utf8").trim();
    } catch (err) {
      throw new ConfigError(`${file}: cannot read storage.postgres.url_file ${urlFile}: ${(err as NodeJS.ErrnoException).code ?? "error"}`);
    }
    if (!resolved) throw new ConfigError(`${file}: storage.postgres.url_file ${urlFile} is empty`);
  }
  if (!/^postgres(ql)?:\/\//.test(resolved!)) {
    throw new ConfigError(`${file}: the storage.postgres URL must start with postgres:// or postgresql://`);
  }
  const poolSize = pgDoc.pool_size ?? 10;
  if (typeof poolSize !== "number" || !Number.isInteger(poolSize) || poolSize < 1 || poolSize > 1000) {
    throw new ConfigError(`${file}: storage.postgres.pool_size must be an integer from 1 to 1000`);
  }
  const schema = str(pgDoc.schema, "storage.postgres.schema", file) ?? "latchkey";
  if (!SCHEMA_NAME.test(schema)) {
    throw new ConfigError(`${file}: storage.postgres.schema must be a lower-case identifier (letters, digits, _)`);
  }
  return { type: "postgres", url: resolved!, poolSize, schema };
}
