import { type InvalidationBus, LocalInvalidationBus } from "../../core/invalidation.js";
import { BoundedCache, DEFAULT_CACHE_TTL_MS } from "../../core/tokens/cache.js";
import type { StorageView } from "../../storage/types.js";
import { type KeyMetadata, readMetadata } from "./store.js";

export interface MetadataCacheOptions {
  /** The mount the cache belongs to: invalidations name it. */
  mountPath: string;
  /** The core's bus; absent, invalidations stay in this process. */
  invalidations?: InvalidationBus;
  /** Other replicas share the storage: without a bus to hear their writes the cache stays empty. */
  sharedStorage?: boolean;
  maxEntries?: number;
  ttlMs?: number;
  now?: () => number;
}

/** Most secrets' metadata kept per mount; a metadata entry is a few hundred bytes. */
export const DEFAULT_METADATA_ENTRIES = 10_000;
const DEFAULT_METADATA_BYTES = 16 * 1024 * 1024;

/**
 * The decrypted metadata of a mount's secrets (version table, times, custom
 * metadata; never secret data), so that a read of the latest version costs one
 * storage read and decryption, the version's own. Every write of metadata
 * publishes a `kv-metadata` invalidation through the core's bus once its
 * transaction has committed, which drops the entry here and on every replica.
 */
export interface MetadataCache {
  /** The secret's metadata, frozen when it comes from the cache. */
  read(storage: StorageView, path: string): Promise<KeyMetadata | undefined>;
  /** After a committed write: drops `path` here and on the other replicas; settles once their copy is on its way. */
  changed(path: string): Promise<void>;
  /** Drops `path` here only, e.g. when the version the cached metadata names has gone. */
  drop(path: string): void;
  /** Unsubscribes and forgets everything (the mount is unmounted or the core sealed). */
  stop(): void;
}

export function createMetadataCache(opts: MetadataCacheOptions): MetadataCache {
  const bus = opts.invalidations ?? new LocalInvalidationBus();
  const enabled = opts.invalidations !== undefined || !opts.sharedStorage;
  const cache = new BoundedCache<KeyMetadata>({
    maxEntries: enabled ? (opts.maxEntries ?? DEFAULT_METADATA_ENTRIES) : 0,
    maxBytes: DEFAULT_METADATA_BYTES,
    ttlMs: opts.ttlMs ?? DEFAULT_CACHE_TTL_MS,
    now: opts.now,
  });
  // Bumped by every invalidation: a read that began before one must not fill the cache with what it read.
  let generation = 0;
  const unsubscribe = bus.subscribe((ev) => {
    if (ev.kind === "kv-metadata" && ev.mount === opts.mountPath) cache.delete(ev.path);
    else if (ev.kind === "mounts" || ev.kind === "all") cache.clear();
    else return;
    generation++;
  });

  return {
    async read(storage, path) {
      const hit = cache.get(path);
      if (hit) return hit;
      const before = generation;
      const meta = await readMetadata(storage, path);
      if (meta && before === generation) cache.set(path, meta);
      return meta;
    },
    async changed(path) {
      await bus.publish({ kind: "kv-metadata", mount: opts.mountPath, path });
    },
    drop(path) {
      cache.delete(path);
      generation++;
    },
    stop() {
      unsubscribe();
      cache.clear();
      generation++;
    },
  };
}
