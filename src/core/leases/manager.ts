import type { StorageView } from "../../storage/types.js";
import { badRequest } from "../errors.js";
import type { LeaseEntry, LeaseManager, LeaseRegistration, Logger } from "../types.js";
import {
  EXPIRY_QUEUE,
  RETRY_QUEUE,
  dueSegment,
  entryKey,
  expireMs,
  indexKeys,
  newLeaseId,
  queueKey,
  retryDelayMs,
  timeSegment,
  tokenIndexPrefix,
  type RetryRecord,
  type StoredLease,
} from "./keys.js";
import { firstRejection, settleWithLimit } from "./pool.js";

export interface LeaseManagerDeps {
  storage: StorageView;
  /**
   * Undoes what the lease governs (the core dispatches to the mount's backend).
   * It may call `forget` and `revokeByToken`, which never wait for a revocation in
   * flight; calling `revoke`, `renew` or `setExpiry` from here could wait on itself.
   */
  revoker: (lease: LeaseEntry) => Promise<void>;
  /** Asks the backend for a new TTL in seconds; the manager caps it at maxExpireTime. */
  renewer: (lease: LeaseEntry, increment: number) => Promise<{ ttl: number }>;
  logger: Logger;
  /** Unix ms; injected by tests. */
  now?: () => number;
  tickMs?: number;
  /** Most index keys read per storage scan, and most revocations recorded per transaction (default 1000). */
  batchSize?: number;
  /** Revocations in flight at once. */
  concurrency?: number;
  /**
   * Replicas sharing the storage: each due lease is claimed, in a transaction,
   * before its revocation, so that two managers (an old leader and the new one
   * across a handover) never both revoke it. `ttlMs` bounds how long a claim of
   * a replica that died keeps the lease from the others (default 60 s).
   */
  claims?: { replica: string; ttlMs?: number };
}

export interface TickResult {
  revoked: number;
  /** Revocations that failed and were queued for a later attempt. */
  failed: number;
}

/** The LeaseManager plus the pass its timer runs, for tests and an operator-triggered tidy. */
export interface ExpirationManager extends LeaseManager {
  tick(): Promise<TickResult>;
}

type FailurePolicy = "throw" | "retry" | "forget";
type Outcome = "revoked" | "queued" | "missing";

const FIRST_PAGE = 32;

/** What renewing a lease that does not exist answers (400, as Vault). */
export const leaseNotFound = () => badRequest("lease not found", "LK_ERR_LEASE_NOT_FOUND");
const leaseExpired = () => badRequest("lease expired", "LK_ERR_LEASE_EXPIRED");
const errorMessage = (err: unknown) => (err instanceof Error ? err.message : String(err));

function publicEntry(stored: StoredLease): LeaseEntry {
  const { retry: _pending, claim: _claim, ...entry } = stored;
  return entry;
}

function unclaimed(stored: StoredLease): StoredLease {
  const { claim: _claim, ...rest } = stored;
  return rest;
}

/** Expiry in ms, never past maxExpireTime (Unix seconds, 0 = none). */
function capExpiry(ms: number, maxExpireTime: number): number {
  return maxExpireTime > 0 ? Math.min(ms, maxExpireTime * 1000) : ms;
}

/** Vault's sys/leases prefixes name a directory: `kv/creds` means `kv/creds/`. */
const asDirectory = (prefix: string) => (prefix === "" || prefix.endsWith("/") ? prefix : prefix + "/");

/**
 * The expiration manager. All state is in `storage`: a lease, its expiry-index
 * key and its token-index key are written and deleted together, so a new
 * manager on the same storage (a restart) picks up exactly where this one was.
 * Only one manager should run ticks against a given storage at a time.
 */
export function createLeaseManager(deps: LeaseManagerDeps): ExpirationManager {
  const { storage, revoker, renewer, logger } = deps;
  const now = deps.now ?? Date.now;
  const tickMs = deps.tickMs ?? 1000;
  const batchSize = deps.batchSize ?? 1000;
  const concurrency = deps.concurrency ?? 16;

  /** Leases being revoked or renewed now; each promise settles (never rejects) when the outcome is stored. */
  const inflight = new Map<string, Promise<void>>();
  /** Leases forgotten while in flight: their revocation must not write them back (as a retry or renewal). */
  const forgotten = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  let running = false;
  let stopping = false;
  let currentTick: Promise<TickResult> | undefined;

  const load = (leaseId: string) => storage.getJSON<StoredLease>(entryKey(leaseId));

  /** Writes `lease` and its index keys, removing the keys of `previous` it no longer has. */
  async function writeLease(tx: StorageView, lease: StoredLease, previous?: StoredLease): Promise<void> {
    const before = new Set(previous ? indexKeys(previous) : []);
    const after = indexKeys(lease);
    for (const key of before) if (!after.includes(key)) await tx.delete(key);
    await tx.putJSON(entryKey(lease.leaseId), lease);
    for (const [i, key] of after.entries()) {
      if (before.has(key)) continue;
      const record: RetryRecord | string =
        i === 0 && lease.retry ? { leaseId: lease.leaseId, attempts: lease.retry.attempts } : lease.leaseId;
      await tx.putJSON(key, record);
    }
  }

  async function deleteLease(tx: StorageView, lease: StoredLease): Promise<void> {
    await tx.delete(entryKey(lease.leaseId));
    for (const key of indexKeys(lease)) await tx.delete(key);
  }

  function withRetry(lease: StoredLease): StoredLease {
    const attempts = (lease.retry?.attempts ?? 0) + 1;
    return { ...unclaimed(lease), retry: { attempts, at: now() + retryDelayMs(attempts) } };
  }

  /**
   * Claims a lease for this replica in one transaction with the check that it
   * is still there (and due at `indexKey`, if given) and nobody else's claim is live; returns the
   * claimed lease, or undefined when it is not this replica's to revoke.
   */
  function claim(lease: StoredLease, indexKey?: string): Promise<StoredLease | undefined> {
    const claims = deps.claims;
    if (!claims) return Promise.resolve(lease);
    return storage.transaction(async (tx) => {
      const current = await tx.getJSON<StoredLease>(entryKey(lease.leaseId));
      if (!current || (indexKey !== undefined && queueKey(current) !== indexKey)) return undefined;
      const at = now();
      if (current.claim && current.claim.by !== claims.replica && current.claim.until > at) return undefined;
      const claimed: StoredLease = { ...current, claim: { by: claims.replica, until: at + (claims.ttlMs ?? 60_000) } };
      await tx.putJSON(entryKey(lease.leaseId), claimed);
      return claimed;
    });
  }

  function logRetry(lease: StoredLease, err: unknown): void {
    logger.warn(
      {
        leaseId: lease.leaseId,
        attempts: lease.retry?.attempts,
        nextAttempt: lease.retry && new Date(lease.retry.at).toISOString(),
        err: errorMessage(err),
      },
      "lease revocation failed; will retry",
    );
  }

  /** Runs `fn` once no other revocation or renewal of this lease is in flight, and marks it in flight meanwhile. */
  async function exclusive<T>(leaseId: string, fn: () => Promise<T>): Promise<T> {
    for (let busy = inflight.get(leaseId); busy; busy = inflight.get(leaseId)) await busy;
    const run = fn();
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    inflight.set(leaseId, settled);
    try {
      return await run;
    } finally {
      if (inflight.get(leaseId) === settled) inflight.delete(leaseId);
      forgotten.delete(leaseId);
    }
  }

  function revokeOne(leaseId: string, onFailure: FailurePolicy): Promise<Outcome> {
    return exclusive(leaseId, async () => {
      const loaded = await load(leaseId);
      if (!loaded) return "missing";
      const lease = await claim(loaded);
      // Another replica is revoking it right now.
      if (!lease) return "revoked";
      try {
        await revoker(publicEntry(lease));
      } catch (err) {
        if (onFailure === "throw") {
          await releaseClaim(lease);
          throw err;
        }
        // Its revoker forgot it before failing: there is nothing left to retry or force.
        if (forgotten.has(leaseId)) return "revoked";
        if (onFailure === "retry") {
          const next = withRetry(lease);
          const queued = await storage.transaction(async (tx) => {
            const current = await tx.getJSON<StoredLease>(entryKey(leaseId));
            if (current) await writeLease(tx, next, current);
            return current !== undefined;
          });
          if (!queued) return "revoked";
          logRetry(next, err);
          return "queued";
        }
        logger.warn({ leaseId, err: errorMessage(err) }, "lease revocation failed; forgetting the lease (force)");
      }
      await storage.transaction((tx) => deleteLease(tx, lease));
      return "revoked";
    });
  }

  /** Gives up this replica's claim after a revocation that failed and stays on schedule. */
  async function releaseClaim(lease: StoredLease): Promise<void> {
    const replica = deps.claims?.replica;
    if (replica === undefined) return;
    await storage.transaction(async (tx) => {
      const current = await tx.getJSON<StoredLease>(entryKey(lease.leaseId));
      if (current && current.claim?.by === replica) await tx.putJSON(entryKey(lease.leaseId), unclaimed(current));
    });
  }

  /** Moves a live lease's expiry under its lock; `decide` returns the new expiry in ms. */
  function moveExpiry(
    leaseId: string,
    decide: (lease: StoredLease, nowMs: number) => Promise<{ expire: number; at: number }>,
  ): Promise<LeaseEntry> {
    return exclusive(leaseId, async () => {
      const lease = await load(leaseId);
      if (!lease) throw leaseNotFound();
      const { expire, at } = await decide(lease, now());
      const capped = capExpiry(expire, lease.maxExpireTime);
      if (forgotten.has(leaseId)) throw leaseNotFound();
      const { retry: _pending, ...rest } = unclaimed(lease);
      const next: StoredLease = {
        ...rest,
        expireTime: capped / 1000,
        ttl: Math.max(0, Math.round((capped - at) / 1000)),
        lastRenewalTime: at / 1000,
      };
      // Re-read inside the transaction: a lease forgotten meanwhile (its token revoked) stays gone.
      await storage.transaction(async (tx) => {
        const current = await tx.getJSON<StoredLease>(entryKey(leaseId));
        if (!current) throw leaseNotFound();
        await writeLease(tx, next, current);
      });
      return publicEntry(next);
    });
  }

  /**
   * Applies `revokeKey` to every key under `prefix`, a page at a time with bounded
   * concurrency; returns how many leases were revoked or queued, and throws the
   * first failure once its page is done.
   */
  async function revokeEach(prefix: string, revokeKey: (key: string) => Promise<Outcome>): Promise<number> {
    let count = 0;
    let after: string | undefined;
    for (;;) {
      const keys = await storage.scan(prefix, after, batchSize);
      const results = await settleWithLimit(keys, concurrency, revokeKey);
      count += results.filter((r) => r.status === "fulfilled" && r.value !== "missing").length;
      const failure = firstRejection(results);
      if (failure) throw failure.reason;
      if (keys.length < batchSize) return count;
      after = keys[keys.length - 1];
    }
  }

  function checkLive(lease: StoredLease, nowMs: number): void {
    if (lease.retry || expireMs(lease) <= nowMs) throw leaseExpired();
  }

  /** Revokes the due leases behind `keys` (relative to `queue`) and records every outcome in one transaction. */
  async function processBatch(queue: string, keys: string[]): Promise<TickResult> {
    const releases: (() => void)[] = [];
    const revoked: StoredLease[] = [];
    const failed: { previous: StoredLease; next: StoredLease; err: unknown }[] = [];
    const stale: string[] = [];
    try {
      const results = await settleWithLimit(keys, concurrency, async (key) => {
        const indexKey = queue + key;
        const leaseId =
          queue === RETRY_QUEUE
            ? (await storage.getJSON<RetryRecord>(indexKey))?.leaseId
            : await storage.getJSON<string>(indexKey);
        // Gone since the scan, or being revoked/renewed elsewhere: that one moves the key.
        if (leaseId === undefined || inflight.has(leaseId)) return;
        let release = () => {};
        inflight.set(leaseId, new Promise<void>((resolve) => (release = resolve)));
        releases.push(() => {
          inflight.delete(leaseId);
          forgotten.delete(leaseId);
          release();
        });
        const loaded = await load(leaseId);
        if (!loaded || queueKey(loaded) !== indexKey) {
          stale.push(indexKey);
          return;
        }
        const lease = await claim(loaded, indexKey);
        // Another replica is revoking it, or did meanwhile.
        if (!lease) return;
        try {
          await revoker(publicEntry(lease));
          revoked.push(lease);
        } catch (err) {
          failed.push({ previous: lease, next: withRetry(lease), err });
        }
      });
      // A lease forgotten while its revocation failed is gone: it is not queued again.
      const requeue = failed.filter(({ next }) => !forgotten.has(next.leaseId));
      if (revoked.length + failed.length + stale.length > 0) {
        await storage.transaction(async (tx) => {
          // A lease its revoker forgot (a token's auth lease) went in the revoker's own transaction.
          for (const lease of revoked) if (!forgotten.has(lease.leaseId)) await deleteLease(tx, lease);
          for (const { previous, next } of requeue) await writeLease(tx, next, previous);
          for (const key of stale) await tx.delete(key);
        });
      }
      for (const { next, err } of requeue) logRetry(next, err);
      const broken = firstRejection(results);
      if (broken) throw broken.reason;
      return { revoked: revoked.length, failed: requeue.length };
    } finally {
      for (const release of releases) release();
    }
  }

  /** Processes every key of `queue` due by now; reads stop at the first key in the future. */
  async function drain(queue: string): Promise<TickResult> {
    const horizon = timeSegment(now());
    const total: TickResult = { revoked: 0, failed: 0 };
    let after: string | undefined;
    // Small first page: an idle tick reads a handful of future keys; a backlog grows the page up to batchSize.
    let limit = Math.min(batchSize, FIRST_PAGE);
    while (!stopping) {
      const keys = await storage.scan(queue, after, limit);
      let due = 0;
      while (due < keys.length && dueSegment(keys[due]) <= horizon) due++;
      if (due > 0) {
        const result = await processBatch(queue, keys.slice(0, due));
        total.revoked += result.revoked;
        total.failed += result.failed;
        after = keys[due - 1];
      }
      if (due < keys.length || keys.length < limit) break;
      limit = Math.min(batchSize, limit * 4);
    }
    return total;
  }

  async function runTick(): Promise<TickResult> {
    const expired = await drain(EXPIRY_QUEUE);
    const retried = await drain(RETRY_QUEUE);
    return { revoked: expired.revoked + retried.revoked, failed: expired.failed + retried.failed };
  }

  function tick(): Promise<TickResult> {
    currentTick ??= runTick().finally(() => {
      currentTick = undefined;
    });
    return currentTick;
  }

  function schedule(): void {
    if (timer) return;
    timer = setTimeout(() => {
      timer = undefined;
      tick()
        .catch((err: unknown) => logger.error({ err: errorMessage(err) }, "lease expiration tick failed"))
        .finally(() => {
          if (running) schedule();
        });
    }, tickMs);
    timer.unref();
  }

  const manager: ExpirationManager = {
    async register(reg: LeaseRegistration, within?: StorageView): Promise<LeaseEntry> {
      if (!Number.isFinite(reg.ttl) || reg.ttl <= 0) {
        throw badRequest("lease ttl must be greater than zero", "LK_ERR_INVALID_LEASE_TTL");
      }
      const nowMs = now();
      const maxExpireTime = reg.maxExpireTime ?? 0;
      const uncapped = nowMs + reg.ttl * 1000;
      const expire = capExpiry(uncapped, maxExpireTime);
      const lease: StoredLease = {
        leaseId: reg.leaseId ?? newLeaseId(reg.mountPath, reg.path),
        mountPath: reg.mountPath,
        path: reg.path,
        kind: reg.kind,
        issueTime: nowMs / 1000,
        expireTime: expire / 1000,
        ttl: expire === uncapped ? reg.ttl : Math.max(0, Math.round((expire - nowMs) / 1000)),
        maxExpireTime,
        renewable: reg.renewable,
        internal: reg.internal ?? {},
        ...(reg.tokenKey !== undefined && { tokenKey: reg.tokenKey }),
        ...(reg.batchTokenKey !== undefined && { batchTokenKey: reg.batchTokenKey }),
        ...(reg.authTokenKey !== undefined && { authTokenKey: reg.authTokenKey }),
      };
      const write = async (tx: StorageView) => {
        // Only an explicit id can already exist; replace it and drop its old index keys.
        const previous = reg.leaseId === undefined || reg.freshId ? undefined : await tx.getJSON<StoredLease>(entryKey(lease.leaseId));
        await writeLease(tx, lease, previous);
      };
      if (within) await write(within);
      else await storage.transaction(write);
      return publicEntry(lease);
    },

    async lookup(leaseId) {
      const lease = await load(leaseId);
      return lease && publicEntry(lease);
    },

    renew(leaseId, incrementSeconds) {
      return moveExpiry(leaseId, async (lease, nowMs) => {
        if (!lease.renewable) throw badRequest("lease is not renewable", "LK_ERR_LEASE_NOT_RENEWABLE");
        checkLive(lease, nowMs);
        // Vault: an absent or zero increment means "the lease's own TTL".
        const increment = incrementSeconds !== undefined && incrementSeconds > 0 ? incrementSeconds : lease.ttl;
        const { ttl } = await renewer(publicEntry(lease), increment);
        const at = now();
        return { expire: at + ttl * 1000, at };
      });
    },

    async setExpiry(leaseId, expireTime) {
      await moveExpiry(leaseId, async (lease, nowMs) => {
        checkLive(lease, nowMs);
        return { expire: Math.round(expireTime * 1000), at: nowMs };
      });
    },

    async revoke(leaseId) {
      await revokeOne(leaseId, "throw");
    },

    async forget(leaseId, within) {
      if (within) {
        // Part of the caller's transaction, which must not wait for anything that needs one.
        if (inflight.has(leaseId)) forgotten.add(leaseId);
        const lease = await within.getJSON<StoredLease>(entryKey(leaseId));
        if (lease) await deleteLease(within, lease);
        return;
      }
      const drop = async () => {
        const lease = await load(leaseId);
        if (lease) await storage.transaction((tx) => deleteLease(tx, lease));
      };
      if (!inflight.has(leaseId)) return exclusive(leaseId, drop);
      // Called while the lease is being revoked, typically by its own revoker (revoking a
      // token forgets the token's auth lease): waiting for that revocation would deadlock.
      forgotten.add(leaseId);
      await drop();
    },

    async revokePrefix(prefix, opts = {}) {
      const policy: FailurePolicy = opts.force ? "forget" : "throw";
      // Vault: a prefix without a trailing slash may name one lease exactly.
      if (prefix !== "" && !prefix.endsWith("/") && (await storage.get(entryKey(prefix)))) {
        return (await revokeOne(prefix, policy)) === "revoked" ? 1 : 0;
      }
      const dir = asDirectory(prefix);
      return revokeEach(entryKey(dir), (key) => revokeOne(dir + key, policy));
    },

    revokeByToken(tokenKey) {
      const prefix = tokenIndexPrefix(tokenKey);
      return revokeEach(prefix, async (key) => {
        const leaseId = await storage.getJSON<string>(prefix + key);
        // A lease already being revoked (possibly the token's own auth lease, whose
        // revoker brought us here) is left to that revocation.
        if (leaseId === undefined || inflight.has(leaseId)) return "missing";
        // Revoking a token must not fail on one backend: failures go to the retry queue.
        return revokeOne(leaseId, "retry");
      });
    },

    list(prefix) {
      return storage.list(entryKey(asDirectory(prefix)));
    },

    async forgetOrphanedAuthLeases(tokenExists) {
      // Token leases are named after the creating path, which is always under auth/.
      const prefix = entryKey("auth/");
      let forgotten = 0;
      let after: string | undefined;
      for (;;) {
        const keys = await storage.scan(prefix, after, batchSize);
        for (const key of keys) {
          const lease = await storage.getJSON<StoredLease>(prefix + key);
          if (lease?.kind !== "auth" || lease.authTokenKey === undefined) continue;
          if (await tokenExists(lease.authTokenKey)) continue;
          await manager.forget(lease.leaseId);
          forgotten++;
        }
        if (keys.length < batchSize || stopping) return forgotten;
        after = keys[keys.length - 1];
        // A background pass: let requests run between pages.
        await new Promise((resolve) => setImmediate(resolve));
      }
    },

    tick,

    start() {
      if (running) return;
      running = true;
      schedule();
    },

    async stop() {
      running = false;
      if (timer) clearTimeout(timer);
      timer = undefined;
      stopping = true;
      try {
        await currentTick?.catch(() => undefined);
        while (inflight.size > 0) await Promise.all(inflight.values());
      } finally {
        stopping = false;
      }
    },
  };
  return manager;
}
