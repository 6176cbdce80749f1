/**
 * Vault's physical cache: the most recently read stored values (still
 * encrypted: the cache sits below the barrier), so that a hot key costs a
 * map lookup instead of a database read. Bounded by entries and by memory,
 * least recently used first out. Only a store that sees every write may keep
 * one: it must call `wrote` after each commit and never before.
 */
export interface ReadCache {
  get(key: string): Uint8Array | undefined;
  /** A value just read from the database. */
  read(key: string, value: Uint8Array): void;
  /** A committed write: the new value, or null for a delete. */
  wrote(key: string, value: Uint8Array | null): void;
  readonly size: number;
  readonly bytes: number;
}

export interface ReadCacheLimits {
  /** Vault's `cache_size`: entries kept; 0 keeps none. DEFAULT_CACHE_ENTRIES when absent. */
  entries?: number;
  /** Memory kept, whatever the count: each entry's value and key bytes plus ENTRY_OVERHEAD. DEFAULT_CACHE_BYTES when absent. */
  bytes?: number;
}

/** Vault's default `cache_size`. */
export const DEFAULT_CACHE_ENTRIES = 131_072;
/** 32 MiB at most, as counted by `cost`. */
export const DEFAULT_CACHE_BYTES = 32 * 1024 * 1024;
/** What an entry holds beyond its value and key: the typed array, its backing store, the map slot (measured on Node 20). */
export const ENTRY_OVERHEAD = 300;

const cost = (key: string, value: Uint8Array) => value.byteLength + key.length + ENTRY_OVERHEAD;

export function createReadCache(limits: ReadCacheLimits = {}): ReadCache {
  const maxEntries = limits.entries ?? DEFAULT_CACHE_ENTRIES;
  const maxBytes = limits.bytes ?? DEFAULT_CACHE_BYTES;
  // Insertion order is age. A hit only marks its entry; eviction gives a marked
  // entry a second chance at the young end (the CLOCK approximation of LRU), so
  // a hit costs one lookup and no reordering.
  const entries = new Map<string, { value: Uint8Array; cost: number; used: boolean }>();
  let bytes = 0;

  function remove(key: string) {
    const old = entries.get(key);
    if (old === undefined) return;
    entries.delete(key);
    bytes -= old.cost;
  }

  function insert(key: string, value: Uint8Array) {
    const size = cost(key, value);
    if (maxEntries <= 0 || size > maxBytes) return;
    remove(key);
    entries.set(key, { value, cost: size, used: false });
    bytes += size;
    for (const [oldest, entry] of entries) {
      if (entries.size <= maxEntries && bytes <= maxBytes) break;
      entries.delete(oldest);
      if (entry.used && oldest !== key) {
        entry.used = false;
        entries.set(oldest, entry);
      } else {
        bytes -= entry.cost;
      }
    }
  }

  return {
    get(key) {
      const entry = entries.get(key);
      if (entry === undefined) return undefined;
      entry.used = true;
      return entry.value;
    },
    read: insert,
    wrote(key, value) {
      // Only keys already read are kept fresh: a write alone (a lease, an audit counter) is not worth a slot.
      if (!entries.has(key)) return;
      if (value) insert(key, value);
      else remove(key);
    },
    get size() {
      return entries.size;
    },
    get bytes() {
      return bytes;
    },
  };
}
