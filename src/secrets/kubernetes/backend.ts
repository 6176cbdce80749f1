import type { Registry } from "prom-client";
import type { Backend, BackendContext, BackendFactory } from "../../core/types.js";
import { createTargetClients, gatewayFiles, type GatewayFiles, type ReadFile } from "./clusters.js";
import { reconcileIntents, revokeLease } from "./cleanup.js";
import { BOOT_ID, createLiveness, HEARTBEAT_MS, issuing, STALE_MS } from "./liveness.js";
import { certificatePaths } from "./path-certificates.js";
import { credsPath, deleteRecorded } from "./path-creds.js";
import { createPreparedPool } from "./prepared.js";
import { csrPaths } from "./path-csr.js";
import { rolePaths } from "./path-roles.js";
import { rotatePaths } from "./path-rotate.js";
import { targetPaths } from "./path-targets.js";
import { getIntent, mountId } from "./store.js";
import type { TargetClients } from "./types.js";

const RECONCILE_INTERVAL_MS = 5 * 60_000;
/** How often prepared credentials past their age are looked for. */
const PREPARED_SWEEP_MS = 10_000;
/** A stop waits this long for prepared credentials to be deleted; the next start's reconcile deletes what is left. */
const PREPARED_STOP_MS = 5_000;
/** Backoff of the reconciles that chase the objects of abandoned issues: 1 s, doubling, at most a minute. */
const ABANDONED_RETRY_MS = { first: 1000, max: 60_000 };

export interface KubernetesSecretsOptions {
  /** Talks to clusters; tests pass fakes. Default: one pooled kube client per target. */
  clients?: TargetClients;
  /** The server's own service-account token and CA; default from the mount options or the standard paths. */
  files?: GatewayFiles;
  read?: ReadFile;
  /** For the in-cluster default of `kubernetes_host`. */
  env?: Record<string, string | undefined>;
  /** Milliseconds. */
  now?: () => number;
  /** How often orphaned objects are looked for after the run at start; 0 = only at start. */
  reconcileIntervalMs?: number;
  /** Where the certificate expiry gauge is registered; default prom-client's global registry. */
  registry?: Registry;
  /** This server process's id in the intents it writes; tests give each simulated run its own. */
  bootId?: string;
}

/**
 * The `kubernetes` secrets engine: short-lived service-account credentials
 * for existing accounts (fixed mode) or for temporary ones bound to a
 * predefined or generated role (dynamic mode). Mount options
 * `service_account_token_path` and `service_account_ca_path` move the
 * server's own token and CA files (only an operator who may mount engines sets them).
 */
export function createKubernetesSecretsBackend(ctx: BackendContext, opts: KubernetesSecretsOptions = {}): Backend {
  const now = opts.now ?? Date.now;
  const files = opts.files ?? gatewayFiles(ctx.config.options);
  let pooled: ReturnType<typeof createTargetClients> | undefined;
  const clients = opts.clients ?? (pooled = createTargetClients({ files, read: opts.read }));
  let id: Promise<string> | undefined;
  const ownId = () => (id ??= mountId(ctx.storage));
  const boot = opts.bootId ?? BOOT_ID;
  const deps = { clients, logger: ctx.logger, boot };
  const liveness = createLiveness({ storage: ctx.storage, shared: ctx.sharedStorage === true, boot, now });
  let timer: NodeJS.Timeout | undefined;
  let heartbeat: NodeJS.Timeout | undefined;
  let recheck: NodeJS.Timeout | undefined;
  const certificates = certificatePaths({ logger: ctx.logger, mountPath: ctx.mountPath, now, registry: opts.registry ?? ctx.metrics });

  const reconcile = async () => {
    try {
      const result = await reconcileIntents(ctx.storage, { ...deps, liveness, leases: ctx.leases, mountPath: ctx.mountPath }, Math.floor(now() / 1000));
      // Intents of a replica that may have died: look again once it would have missed its heartbeats.
      if (result.watched > 0 && !recheck) {
        recheck = setTimeout(() => {
          recheck = undefined;
          if (leading()) void reconcile();
        }, STALE_MS + HEARTBEAT_MS);
        recheck.unref();
      }
    } catch (err) {
      ctx.logger.warn({ mount: ctx.mountPath, cause: err instanceof Error ? err.message : String(err) }, "kubernetes reconcile failed");
    }
  };
  const leading = () => ctx.isLeader?.() ?? true;
  // Issues that failed half-way with the cluster unreachable: reconciled with backoff until their objects are gone,
  // rather than at the next periodic run (the reconcile at start catches those of a previous run).
  const abandoned = new Set<string>();
  let chase: NodeJS.Timeout | undefined;
  let chaseDelay = ABANDONED_RETRY_MS.first;
  const chaseAbandoned = (ref?: string) => {
    if (ref !== undefined) abandoned.add(ref);
    if (chase || abandoned.size === 0) return;
    chase = setTimeout(async () => {
      if (leading()) await reconcile();
      for (const left of [...abandoned]) if (!(await getIntent(ctx.storage, left).catch(() => undefined))) abandoned.delete(left);
      chase = undefined;
      chaseDelay = abandoned.size === 0 ? ABANDONED_RETRY_MS.first : Math.min(ABANDONED_RETRY_MS.max, chaseDelay * 2);
      chaseAbandoned();
    }, chaseDelay);
    chase.unref();
  };
  const prepared = createPreparedPool({
    logger: ctx.logger,
    now,
    discard: async (p) => {
      try {
        await deleteRecorded(p.api, ctx.storage, p, { logger: ctx.logger, abandoned: chaseAbandoned });
      } finally {
        issuing.delete(p.ref);
      }
    },
  });
  let sweep: NodeJS.Timeout | undefined;
  // Expiration events: warned about and measured at start and on every reconcile.
  const checkCertificates = () => certificates.check(ctx.storage).catch(() => []);

  return {
    paths: [
      ...targetPaths({ files, env: opts.env ?? process.env, read: opts.read }),
      ...rotatePaths(deps),
      ...csrPaths(deps),
      ...certificates.paths,
      ...rolePaths(),
      credsPath({
        clients,
        boot,
        files,
        logger: ctx.logger,
        mountId: ownId,
        // The mount's live limits: a tune applies from the next request.
        limits: ctx.config,
        now,
        abandoned: chaseAbandoned,
        prepared,
        storage: ctx.storage,
      }),
    ],
    revoke: (lease, storage) => revokeLease(lease, storage, deps),
    async start() {
      await ownId();
      // Before the first request: a replica's intents must never name a boot without a record.
      await liveness.heartbeat();
      if (liveness.shared) {
        heartbeat = setInterval(() => {
          liveness.heartbeat().catch((err: unknown) => {
            ctx.logger.warn({ mount: ctx.mountPath, cause: err instanceof Error ? err.message : String(err) }, "kubernetes heartbeat failed");
          });
        }, HEARTBEAT_MS);
        heartbeat.unref();
      }
      // Not awaited: a cluster that is down must not keep the mount (or the unseal) from coming up.
      // Deleting orphans is once-only work: with several replicas, the leader does it.
      if (leading()) void reconcile();
      void checkCertificates();
      sweep = setInterval(() => prepared.sweep(), PREPARED_SWEEP_MS);
      sweep.unref();
      const interval = opts.reconcileIntervalMs ?? RECONCILE_INTERVAL_MS;
      if (interval > 0) {
        timer = setInterval(() => {
          if (leading()) void reconcile();
          void checkCertificates();
        }, interval);
        timer.unref();
      }
    },
    async stop() {
      // First, so that what could not be deleted is not chased after the stop: the next start reconciles it.
      clearInterval(sweep);
      let waited: NodeJS.Timeout | undefined;
      await Promise.race([prepared.close(), new Promise((resolve) => (waited = setTimeout(resolve, PREPARED_STOP_MS)))]);
      clearTimeout(waited);
      clearInterval(timer);
      clearInterval(heartbeat);
      clearTimeout(recheck);
      clearTimeout(chase);
      abandoned.clear();
      await pooled?.closeAll();
    },
  };
}

/** Registered as the `kubernetes` secrets engine type (the `kubernetes` auth method is another factory). */
export const kubernetesSecretsBackendFactory: BackendFactory = (ctx) => createKubernetesSecretsBackend(ctx);
