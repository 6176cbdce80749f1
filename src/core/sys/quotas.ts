import type { Barrier } from "../../storage/barrier.js";
import { mirroredResponse } from "../envelope.js";
import { badRequest, notFound } from "../errors.js";
import type { Invalidation, InvalidationBus } from "../invalidation.js";
import type { Router } from "../router.js";
import { parseDuration } from "../tokens/duration.js";
import type { PathDef } from "../types.js";

/** A `sys/quotas/rate-limit/<name>` quota, in Vault's fields (seconds for the durations). */
export interface RateLimitQuota {
  name: string;
  /** A mount (`secret/`) or a path prefix under one (`auth/kubernetes/login`); empty is global. */
  path: string;
  /** Requests allowed per `interval` for one client address. */
  rate: number;
  interval: number;
  /** Once refused, a client stays refused this long; 0 refuses only until a token is back. */
  blockInterval: number;
}

/** `sys/quotas/config`. */
export interface QuotaConfig {
  rateLimitExemptPaths: string[];
  enableRateLimitResponseHeaders: boolean;
  enableRateLimitAuditLogging: boolean;
}

/** Vault's default exemptions: a client must always be able to see and unseal the server. */
export const DEFAULT_EXEMPT_PATHS = [
  "sys/generate-recovery-token/attempt",
  "sys/generate-recovery-token/update",
  "sys/generate-root/attempt",
  "sys/generate-root/update",
  "sys/health",
  "sys/seal-status",
  "sys/unseal",
];

const defaultConfig = (): QuotaConfig => ({
  rateLimitExemptPaths: [...DEFAULT_EXEMPT_PATHS],
  enableRateLimitResponseHeaders: false,
  enableRateLimitAuditLogging: false,
});

/**
 * The persisted quotas, kept in memory once read so that the check on every
 * request costs no storage read. `version` changes on every write so that the
 * enforcer drops the buckets of a quota that changed. Every write publishes a
 * `quotas` invalidation, on which the other replicas on the same database
 * forget their copy (`reset`).
 */
type QuotaState = { quotas: RateLimitQuota[]; config: QuotaConfig; version: number } | undefined;

export function createQuotaStore(barrier: Pick<Barrier, "view" | "isSealed">, invalidations?: Pick<InvalidationBus, "publish">) {
  let quotas: Map<string, RateLimitQuota> | undefined;
  let config: QuotaConfig = defaultConfig();
  let version = 0;
  /** Bumped by `reset`: a load that began before it read what may be stale, and is not kept. */
  let generation = 0;
  const view = () => barrier.view("sys/quotas/");

  /** What `current` hands out, made again only when the quotas or the config changed. */
  let published: { version: number; config: QuotaConfig; state: NonNullable<QuotaState> } | undefined;
  function snapshot(loaded: Map<string, RateLimitQuota>): NonNullable<QuotaState> {
    if (published?.version !== version || published.config !== config) {
      published = { version, config, state: { quotas: [...loaded.values()], config, version } };
    }
    return published.state;
  }

  async function load() {
    if (quotas) return quotas;
    const started = generation;
    const v = view();
    const loaded = new Map<string, RateLimitQuota>();
    for (const name of await v.list("rate-limit/")) {
      const q = await v.getJSON<RateLimitQuota>(`rate-limit/${name}`);
      if (q) loaded.set(name, q);
    }
    const loadedConfig = (await v.getJSON<QuotaConfig>("config")) ?? defaultConfig();
    if (started !== generation) return load();
    config = loadedConfig;
    quotas = loaded;
    version++;
    return loaded;
  }

  /** Set while this store publishes its own change (local delivery is synchronous). */
  let publishing = false;
  /** After a write: this replica's copy is current; the other replicas drop theirs. */
  function changed() {
    version++;
    publishing = true;
    try {
      invalidations?.publish({ kind: "quotas" });
    } finally {
      publishing = false;
    }
  }

  /** Forgets the cache: the next check reads storage again. */
  function reset() {
    quotas = undefined;
    generation++;
    version++;
  }

  return {
    load,
    reset,
    /** Another replica changed the quotas, or this one may have missed changes. */
    invalidated(ev: Invalidation) {
      if ((ev.kind === "quotas" && !publishing) || ev.kind === "all") reset();
    },
    /**
     * The quotas and config in force, or nothing while sealed (seal has its own 503):
     * at once when they are in memory, else once read. Every request asks.
     */
    current(): QuotaState | Promise<QuotaState> {
      if (barrier.isSealed()) return undefined;
      if (!quotas) return load().then(snapshot);
      return snapshot(quotas);
    },
    async put(q: RateLimitQuota) {
      const loaded = await load();
      await view().putJSON(`rate-limit/${q.name}`, q);
      loaded.set(q.name, q);
      changed();
    },
    async get(name: string) {
      return (await load()).get(name);
    },
    async list() {
      return [...(await load()).keys()].sort();
    },
    async delete(name: string) {
      const loaded = await load();
      await view().delete(`rate-limit/${name}`);
      loaded.delete(name);
      changed();
    },
    async config() {
      await load();
      return config;
    },
    async putConfig(next: QuotaConfig) {
      await load();
      await view().putJSON("config", next);
      config = next;
      changed();
    },
  };
}

export type QuotaStore = ReturnType<typeof createQuotaStore>;

const NAME = /^[A-Za-z0-9_.-]{1,128}$/;

const quotaView = (q: RateLimitQuota) => ({
  name: q.name,
  path: q.path,
  type: "rate-limit",
  rate: q.rate,
  interval: q.interval,
  block_interval: q.blockInterval,
  role: "",
  inheritable: q.path === "" || q.path.endsWith("/"),
});

/** sys/quotas/rate-limit/<name> and sys/quotas/config, in Vault's shapes. */
export function quotaPaths(core: { quotas: QuotaStore; router: Pick<Router, "mountFor"> }): PathDef[] {
  const { quotas } = core;
  return [
    {
      pattern: "quotas/rate-limit",
      sudo: true,
      ops: { list: async () => ({ data: { keys: await quotas.list() } }) },
    },
    {
      pattern: "quotas/rate-limit/:name",
      sudo: true,
      fields: {
        path: { type: "string", description: "a mount or a path under one; empty applies to every request" },
        rate: { type: "any", description: "requests allowed per interval, per client address" },
        interval: { type: "duration", description: "the window the rate counts over; default 1s" },
        block_interval: { type: "duration", description: "how long a client that exceeded the rate stays refused" },
      },
      exists: async (req) => (await quotas.get(req.params.name)) !== undefined,
      ops: {
        read: async (req) => {
          const q = await quotas.get(req.params.name);
          if (!q) throw notFound(`rate-limit quota "${req.params.name}" does not exist`);
          return { data: quotaView(q) };
        },
        create: async (req) => writeQuota(req.params.name, req.data, undefined),
        update: async (req) => writeQuota(req.params.name, req.data, await quotas.get(req.params.name)),
        delete: async (req) => {
          await quotas.delete(req.params.name);
          return {};
        },
      },
    },
    {
      pattern: "quotas/config",
      sudo: true,
      fields: {
        rate_limit_exempt_paths: { type: "string_list" },
        enable_rate_limit_response_headers: { type: "bool" },
        enable_rate_limit_audit_logging: { type: "bool" },
      },
      ops: {
        read: async () => {
          const c = await quotas.config();
          return mirroredResponse({
            rate_limit_exempt_paths: c.rateLimitExemptPaths,
            enable_rate_limit_response_headers: c.enableRateLimitResponseHeaders,
            enable_rate_limit_audit_logging: c.enableRateLimitAuditLogging,
          });
        },
        update: async (req) => {
          const c = await quotas.config();
          const exempt = req.data.rate_limit_exempt_paths;
          await quotas.putConfig({
            rateLimitExemptPaths: Array.isArray(exempt) ? exempt.map((p) => String(p).replace(/^\/+/, "")) : c.rateLimitExemptPaths,
            enableRateLimitResponseHeaders: (req.data.enable_rate_limit_response_headers as boolean | undefined) ?? c.enableRateLimitResponseHeaders,
            enableRateLimitAuditLogging: (req.data.enable_rate_limit_audit_logging as boolean | undefined) ?? c.enableRateLimitAuditLogging,
          });
          return {};
        },
      },
    },
  ];

  async function writeQuota(name: string, data: Record<string, unknown>, existing: RateLimitQuota | undefined) {
    if (!NAME.test(name)) throw badRequest(`quota name "${name}" must be 1-128 letters, digits, ".", "_" or "-"`);
    const path = typeof data.path === "string" ? data.path.replace(/^\/+/, "") : (existing?.path ?? "");
    if (path !== "" && !core.router.mountFor(path)) throw badRequest(`invalid mount path "${path}": no mount serves it`);
    const rawRate = data.rate ?? existing?.rate;
    const rate = typeof rawRate === "string" && rawRate.trim() !== "" ? Number(rawRate) : rawRate;
    if (typeof rate !== "number" || !Number.isFinite(rate) || rate <= 0) {
      throw badRequest('field "rate" must be a positive number of requests');
    }
    const interval = data.interval !== undefined ? parseDuration(data.interval, "interval") : (existing?.interval ?? 1);
    if (interval < 1) throw badRequest('field "interval" must be at least 1s');
    const blockInterval =
      data.block_interval !== undefined ? parseDuration(data.block_interval, "block_interval") : (existing?.blockInterval ?? 0);
    await quotas.put({ name, path, rate, interval, blockInterval });
    return {};
  }
}
