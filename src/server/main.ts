import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { randomBytes } from "node:crypto";
import type { FastifyInstance } from "fastify";
import { createCore, type Core } from "../core/core.js";
import type { BackendRegistry } from "../core/mounts.js";
import type { Logger } from "../core/types.js";
import { kubernetesBackendFactory } from "../auth/kubernetes/index.js";
import { cubbyholeBackendFactory } from "../secrets/cubbyhole/index.js";
import { kubernetesSecretsBackendFactory } from "../secrets/kubernetes/index.js";
import { kvBackendFactory, kvV2BackendFactory } from "../secrets/kv/index.js";
import { createMemoryStore } from "../storage/memory.js";
import { PgInvalidationBus } from "../storage/pg-invalidation.js";
import { PgLeadership } from "../storage/pg-lock.js";
import { createPostgresStore } from "../storage/postgres.js";
import { createSqliteStore } from "../storage/sqlite.js";
import type { PhysicalStore } from "../storage/types.js";
import { buildApp } from "./app.js";
import { API_ADDR_ENV, ConfigError, DEFAULT_CONFIG, loadConfigFile, parseApiAddr, parseHostPort, type ServerConfig } from "./config.js";
import { createLogger } from "./logger.js";

export interface ServerOptions {
  config?: string;
  dev?: boolean;
  devRootToken?: string;
  listen?: string;
  logLevel?: string;
}

/** Every secrets engine and auth method type latchkey can mount; a new one is one line here. */
export const BACKENDS: BackendRegistry = {
  mounts: {
    kv: kvBackendFactory,
    "kv-v2": kvV2BackendFactory,
    cubbyhole: cubbyholeBackendFactory,
    kubernetes: kubernetesSecretsBackendFactory,
  },
  auth: { kubernetes: kubernetesBackendFactory },
};

export interface RunningServer {
  app: FastifyInstance;
  core: Core;
  /** `http://127.0.0.1:8200` */
  address: string;
  /** Dev mode only: the root token and unseal key it printed. */
  dev?: { rootToken: string; unsealKey: string };
  close(): Promise<void>;
}

function openStore(cfg: ServerConfig): PhysicalStore {
  const storage = cfg.storage;
  if (storage.type === "postgres") {
    return createPostgresStore({ url: storage.url, poolSize: storage.poolSize, schema: storage.schema });
  }
  return storage.type === "sqlite"
    ? createSqliteStore(storage.path, { cache: { entries: cfg.cacheSize } })
    : createMemoryStore();
}

/**
 * Builds a server without listening (tests inject requests into `app`). Dev mode
 * initialises with one unseal key, unseals, and mounts KV version 2 at `secret/`.
 */
export async function buildServer(
  cfg: ServerConfig,
  opts: { dev?: boolean; devRootToken?: string; logger?: Logger } = {},
): Promise<Omit<RunningServer, "address">> {
  const logger = opts.logger ?? createLogger(cfg.logLevel);
  const physical = openStore(cfg);
  // Replicas sharing a PostgreSQL database tell each other what to drop from their caches.
  const invalidations =
    cfg.storage.type === "postgres"
      ? new PgInvalidationBus({
          url: cfg.storage.url,
          schema: cfg.storage.schema,
          onStatus: (status) =>
            status === "lost"
              ? logger.warn("lost the postgresql invalidation connection; reconnecting")
              : logger.debug("listening for invalidations from other replicas"),
        })
      : undefined;
  await invalidations?.start();
  // Replicas on one PostgreSQL database elect the one that revokes expired leases.
  const leadership =
    cfg.storage.type === "postgres"
      ? new PgLeadership({
          url: cfg.storage.url,
          schema: cfg.storage.schema,
          onStatus: (status) => logger.info({ ha_status: status }, `this replica is now the ${status}`),
        })
      : undefined;
  await leadership?.start();
  const core = createCore({
    invalidations,
    leadership,
    physical,
    seal: cfg.seal,
    storageType: cfg.storage.type,
    logger,
    backends: BACKENDS,
    leaseTickMs: cfg.leaseTickSeconds * 1000,
  });

  let dev: RunningServer["dev"];
  if (opts.dev) {
    const rootTokenId = opts.devRootToken ?? `lks.${randomBytes(24).toString("base64url")}`;
    const { keys, rootToken } = await core.initialize({ secretShares: 1, secretThreshold: 1, rootTokenId });
    await core.services.mounts.enable("mounts", "secret", {
      type: "kv",
      description: "key/value secret storage",
      options: { version: "2" },
    });
    dev = { rootToken, unsealKey: Buffer.from(keys[0]).toString("base64") };
  } else if (await core.sealManager.isInitialized()) {
    if (cfg.seal.type === "auto") {
      await core.sealManager.autoUnseal();
      await core.unsealed();
    }
  }

  const tls = cfg.listener.tlsCertFile && cfg.listener.tlsKeyFile
    ? { cert: readFileSync(cfg.listener.tlsCertFile), key: readFileSync(cfg.listener.tlsKeyFile) }
    : undefined;
  const app = await buildApp({ core, logger, maxRequestSize: cfg.maxRequestSize, maxInflightRequests: cfg.maxInflightRequests, listener: cfg.listener, https: tls });
  let closing: Promise<void> | undefined;
  return {
    app,
    core,
    dev,
    close: () =>
      (closing ??= (async () => {
        await app.close();
        await core.close();
        await leadership?.close();
        await invalidations?.close();
      })()),
  };
}

/** Builds a server and listens on the configured address. */
export async function startServer(
  cfg: ServerConfig,
  opts: { dev?: boolean; devRootToken?: string; logger?: Logger } = {},
): Promise<RunningServer> {
  const server = await buildServer(cfg, opts);
  const { app } = server;
  const tls = Boolean(cfg.listener.tlsCertFile);
  const { host, port } = parseHostPort(cfg.listener.address, "listener address");
  await app.listen({ host, port });
  const bound = app.server.address();
  const actualPort = typeof bound === "object" && bound ? bound.port : port;
  const address = `${tls ? "https" : "http"}://${host.includes(":") ? `[${host}]` : host}:${actualPort}`;
  server.core.ha.address = cfg.apiAddr ?? address;
  server.core.logger.info({ address, storage: cfg.storage.type, seal: cfg.seal.type, dev: Boolean(opts.dev) }, "latchkey listening");
  return { ...server, address };
}

/** `latchkey server`: starts and resolves once it has shut down on SIGTERM or SIGINT. */
export async function runServer(opts: ServerOptions): Promise<void> {
  let cfg: ServerConfig;
  try {
    cfg = opts.config ? loadConfigFile(opts.config) : structuredClone(DEFAULT_CONFIG);
    // Dev mode runs on the embedded default, SQLite, in a throwaway directory.
    if (opts.dev) {
      cfg.storage = { type: "sqlite", path: join(devDir(), "latchkey.db") };
      cfg.seal = { type: "shamir" };
    }
    if (opts.listen) {
      parseHostPort(opts.listen, "--listen");
      cfg.listener.address = opts.listen;
    }
    if (opts.logLevel) cfg.logLevel = opts.logLevel;
    const apiAddr = process.env[API_ADDR_ENV];
    if (apiAddr) cfg.apiAddr = parseApiAddr(apiAddr, API_ADDR_ENV);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`Error: ${err.message}\n`);
      process.exitCode = 2;
      return;
    }
    throw err;
  }

  const server = await startServer(cfg, { dev: opts.dev, devRootToken: opts.devRootToken });
  process.stdout.write(banner(server, cfg));
  if (opts.dev && cfg.storage.type === "sqlite") {
    const dir = dirname(cfg.storage.path);
    process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
  }

  await new Promise<void>((resolve) => {
    const shutdown = (signal: string) => {
      process.stderr.write(`latchkey: ${signal} received, shutting down\n`);
      server.close().then(resolve, (err: unknown) => {
        process.stderr.write(`latchkey: error during shutdown: ${(err as Error).message}\n`);
        process.exitCode = 1;
        resolve();
      });
    };
    // Log rotation: reopen audit files (Vault's SIGHUP behaviour).
    process.on("SIGHUP", () => void server.core.audit.reopen());
    process.once("SIGTERM", () => shutdown("SIGTERM"));
    process.once("SIGINT", () => shutdown("SIGINT"));
  });
}

function devDir(): string {
  return mkdtempSync(join(tmpdir(), "latchkey-dev-"));
}

function banner(server: RunningServer, cfg: ServerConfig): string {
  const lines = [`latchkey server started`, ``, `    Address:  ${server.address}`, `    Storage:  ${cfg.storage.type}`];
  if (server.dev) {
    lines.push(
      ``,
      `Development mode: a throwaway SQLite store, unsealed, KV version 2 mounted at secret/.`,
      `Do not use it in production: everything is lost when it stops.`,
      ``,
      `    Unseal Key: ${server.dev.unsealKey}`,
      `    Root Token: ${server.dev.rootToken}`,
      ``,
      `Try it:`,
      `    export LATCHKEY_ADDR='${server.address}'`,
      `    export LATCHKEY_TOKEN='${server.dev.rootToken}'`,
      `    npx latchkey kv put secret/hello foo=world`,
      `    curl -H "X-Vault-Token: $LATCHKEY_TOKEN" $LATCHKEY_ADDR/v1/secret/data/hello`,
    );
  } else {
    lines.push(``, `Initialise with \`latchkey operator init\` on first start, then unseal with \`latchkey operator unseal\`.`);
  }
  return lines.join("\n") + "\n\n";
}
