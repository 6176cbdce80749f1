import type { Logger } from "../../core/types.js";
import { createReviewCache } from "./review-cache.js";
import type { ClusterConfig, ClusterConnector } from "./types.js";
import type { Cluster } from "./verify.js";

/**
 * The live side of the stored configs: one connection (HTTP pool, JWKS cache)
 * and one review cache per config. With replicas on shared storage logins read
 * the config from storage every time, so a config rewritten by another replica
 * is noticed by its fingerprint and the connection and cache are rebuilt.
 */
export interface ClusterRegistry {
  get(name: string, config: ClusterConfig): Cluster;
  /** Drops the connection of a config that was rewritten or deleted here. */
  forget(name: string): void;
  closeAll(): Promise<void>;
}

export function createClusterRegistry(connector: ClusterConnector, now: () => number, logger: Logger): ClusterRegistry {
  const live = new Map<string, { fingerprint: string; cluster: Cluster }>();
  const close = (cluster: Cluster) =>
    cluster.connection.close().catch((err: unknown) => {
      logger.warn({ config: cluster.name, err: err instanceof Error ? err.message : String(err) }, "closing a kubernetes connection failed");
    });

  return {
    get(name, config) {
      const known = live.get(name);
      // A config kept between logins is the very object (frozen) the connection was built for.
      if (known?.cluster.config === config && Object.isFrozen(config)) return known.cluster;
      // The serialised config itself: comparing it costs less per login than hashing it.
      const fingerprint = JSON.stringify(config);
      if (known?.fingerprint === fingerprint) {
        // The same config read again: the next login with this object is matched by identity.
        known.cluster.config = config;
        return known.cluster;
      }
      if (known) void close(known.cluster);
      const cluster: Cluster = { name, config, connection: connector(config, name), cache: createReviewCache(now) };
      live.set(name, { fingerprint, cluster });
      return cluster;
    },
    forget(name) {
      const known = live.get(name);
      live.delete(name);
      if (known) void close(known.cluster);
    },
    async closeAll() {
      const all = [...live.values()];
      live.clear();
      await Promise.all(all.map((k) => close(k.cluster)));
    },
  };
}
