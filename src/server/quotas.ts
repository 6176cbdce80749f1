import type { QuotaConfig, RateLimitQuota } from "../core/sys/quotas.js";

type QuotaState = { quotas: RateLimitQuota[]; config: QuotaConfig; version: number } | undefined;

export interface QuotaSource {
  /** A value once the quotas are in memory, a promise while they are read. */
  current(): QuotaState | Promise<QuotaState>;
}

export type QuotaVerdict =
  | { allowed: true; headers?: Record<string, string> }
  | { allowed: false; quota: string; retryAfterSeconds: number; headers?: Record<string, string> };

interface Bucket {
  tokens: number;
  updatedMs: number;
  blockedUntilMs: number;
}

const ALLOWED: QuotaVerdict = Object.freeze({ allowed: true });

/** Buckets idle this long are full again and can be forgotten. */
const SWEEP_EVERY = 4096;

/**
 * The quota that governs a path: Vault picks the most specific, a path quota
 * over its mount's over the global one.
 */
export function governingQuota(quotas: RateLimitQuota[], path: string): RateLimitQuota | undefined {
  let best: RateLimitQuota | undefined;
  for (const q of quotas) {
    if (q.path !== "" && path !== q.path && !path.startsWith(q.path.endsWith("/") ? q.path : `${q.path}/`)) continue;
    if (!best || q.path.length > best.path.length) best = q;
  }
  return best;
}

/**
 * Token buckets per (quota, client address): a bucket holds `rate` tokens and
 * refills at `rate / interval` per second, as Vault's rate-limit quotas do.
 */
export function createRateLimiter(source: QuotaSource, now: () => number = Date.now) {
  const buckets = new Map<string, Bucket>();
  let version = -1;
  let checks = 0;

  function sweep(t: number, quotas: RateLimitQuota[]) {
    const byName = new Map(quotas.map((q) => [q.name, q]));
    for (const [key, b] of buckets) {
      const q = byName.get(key.slice(0, key.indexOf("\u0000")));
      if (!q || (b.blockedUntilMs <= t && t - b.updatedMs >= q.interval * 1000)) buckets.delete(key);
    }
  }

  return {
    /**
     * Decides one request; `path` is relative to /v1/, `client` its remote address.
     * Synchronous once the quotas are in memory: most servers have none, and
     * every request passes here.
     */
    check(path: string, client: string): QuotaVerdict | Promise<QuotaVerdict> {
      const state = source.current();
      return state instanceof Promise ? state.then((loaded) => decide(loaded, path, client)) : decide(state, path, client);
    },
    /** Open buckets, for tests and metrics. */
    size: () => buckets.size,
  };

  function decide(state: QuotaState, path: string, client: string): QuotaVerdict {
    if (!state || state.quotas.length === 0) return ALLOWED;
    const clean = path.replace(/^\/+/, "");
    if (state.config.rateLimitExemptPaths.some((p) => clean === p || clean.startsWith(p.endsWith("/") ? p : `${p}/`))) {
      return ALLOWED;
    }
    if (state.version !== version) {
      // A changed quota starts with full buckets, as a new one does in Vault.
      buckets.clear();
      version = state.version;
    }
    const quota = governingQuota(state.quotas, clean);
    if (!quota) return ALLOWED;
    const t = now();
    if (++checks % SWEEP_EVERY === 0) sweep(t, state.quotas);
    const key = `${quota.name}\u0000${client}`;
    let b = buckets.get(key);
    if (!b) {
      b = { tokens: quota.rate, updatedMs: t, blockedUntilMs: 0 };
      buckets.set(key, b);
    }
    const perMs = quota.rate / (quota.interval * 1000);
    b.tokens = Math.min(quota.rate, b.tokens + (t - b.updatedMs) * perMs);
    b.updatedMs = t;
    const headers = (remaining: number, resetSeconds: number) =>
      state.config.enableRateLimitResponseHeaders
        ? {
            "x-ratelimit-limit": String(quota.rate),
            "x-ratelimit-remaining": String(Math.max(0, Math.floor(remaining))),
            "x-ratelimit-reset": String(resetSeconds),
          }
        : undefined;
    if (b.blockedUntilMs > t) {
      const retry = Math.max(1, Math.ceil((b.blockedUntilMs - t) / 1000));
      return { allowed: false, quota: quota.name, retryAfterSeconds: retry, headers: headers(0, retry) };
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return { allowed: true, headers: headers(b.tokens, Math.ceil((quota.rate - b.tokens) / perMs / 1000)) };
    }
    if (quota.blockInterval > 0) b.blockedUntilMs = t + quota.blockInterval * 1000;
    const retry = quota.blockInterval > 0 ? quota.blockInterval : Math.max(1, Math.ceil((1 - b.tokens) / perMs / 1000));
    return { allowed: false, quota: quota.name, retryAfterSeconds: retry, headers: headers(0, retry) };
  }
}

/**
 * The global in-flight cap: a request beyond `max` concurrent ones is refused
 * at once with 503 rather than queued, so a flood cannot exhaust memory.
 */
export function createInflightGate(max: number) {
  let inflight = 0;
  return {
    tryEnter(): boolean {
      if (max > 0 && inflight >= max) return false;
      inflight++;
      return true;
    },
    leave() {
      inflight = Math.max(0, inflight - 1);
    },
    get inflight() {
      return inflight;
    },
  };
}
