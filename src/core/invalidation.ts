/**
 * The one seam through which cached state is invalidated. Everything the core
 * caches in memory (resolved tokens, compiled ACLs, the mount tables, the
 * keyring, the quotas) is dropped when an invalidation for it is published. On one server
 * the bus is in-process; with several replicas on one database it also carries
 * each invalidation to the other replicas (PostgreSQL LISTEN/NOTIFY), so a
 * token revoked or a policy changed through one replica is enforced by all.
 *
 * Invalidations name what changed, never a secret: tokens are named by the
 * keyed hash under which the token store keys them.
 */
export type Invalidation =
  /** A token entry changed or is gone (revoked, expired, renewed, a use counted). */
  | { kind: "token"; id: string }
  /** A policy was written or deleted. */
  | { kind: "policy"; name: string }
  /** The secrets-engine or auth-method mount table changed. */
  | { kind: "mounts" }
  /** The barrier keyring was rotated. */
  | { kind: "keyring" }
  /** A KV v2 secret's metadata was written or deleted (a version written, deleted, undeleted or destroyed). */
  | { kind: "kv-metadata"; mount: string; path: string }
  /** A rate-limit quota or the quota config was written or deleted. */
  | { kind: "quotas" }
  /** Drop everything (a replica that missed messages, e.g. after a reconnect). */
  | { kind: "all" };

export type InvalidationListener = (ev: Invalidation) => void;

export interface InvalidationBus {
  /**
   * Delivers `ev` to every local subscriber at once, and to other replicas when
   * there are any. The promise, if any, settles once the other replicas' copy is
   * on its way (never rejects): a caller that must not answer before then (a
   * revocation) awaits it.
   */
  publish(ev: Invalidation): void | Promise<void>;
  /** Calls `fn` for every invalidation, local or remote; returns the unsubscribe function. */
  subscribe(fn: InvalidationListener): () => void;
}

/** The single-server bus: delivery is synchronous, so a caller's next read already misses the cache. */
export class LocalInvalidationBus implements InvalidationBus {
  private readonly listeners = new Set<InvalidationListener>();

  publish(ev: Invalidation): void {
    this.deliver(ev);
  }

  /** Delivers an invalidation that came from elsewhere (another replica) to local subscribers only. */
  deliver(ev: Invalidation): void {
    for (const fn of this.listeners) fn(ev);
  }

  subscribe(fn: InvalidationListener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
}
