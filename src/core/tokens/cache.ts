import type { TokenEntry } from "../types.js";

export interface TokenCacheOptions {
  /** Most entries kept; least recently used are dropped first. */
  maxEntries?: number;
  /** Most bytes kept, by an estimate of each entry's in-memory size. */
  maxBytes?: number;
  /** Milliseconds an entry is served before it is read from storage again, whatever its own expiry. */
  ttlMs?: number;
  /** Milliseconds since the epoch. */
  now?: () => number;
}

export const DEFAULT_CACHE_ENTRIES = 100_000;
export const DEFAULT_CACHE_BYTES = 64 * 1024 * 1024;
export const DEFAULT_CACHE_TTL_MS = 10_000;

/** Fixed cost of one cached entry beyond its strings: the map slot, the record and the entry object. */
const ENTRY_OVERHEAD_BYTES = 320;

interface Slot<V> {
  entry: V;
  bytes: number;
  /** Milliseconds since the epoch after which the slot is not served. */
  until: number;
}

/**
 * Decrypted stored values, bounded by count and by bytes (LRU), each served
 * until its safety TTL and frozen, since every request shares it. It holds only
 * what storage holds; its owner drops a key whenever an invalidation names it.
 */
export class BoundedCache<V extends object> {
  private readonly slots = new Map<string, Slot<V>>();
  private readonly maxEntries: number;
  private readonly maxBytes: number;
  private readonly ttlMs: number;
  private readonly now: () => number;
  private bytes = 0;

  constructor(opts: TokenCacheOptions = {}) {
    this.maxEntries = opts.maxEntries ?? DEFAULT_CACHE_ENTRIES;
    this.maxBytes = opts.maxBytes ?? DEFAULT_CACHE_BYTES;
    this.ttlMs = opts.ttlMs ?? DEFAULT_CACHE_TTL_MS;
    this.now = opts.now ?? Date.now;
  }

  get size(): number {
    return this.slots.size;
  }

  get byteSize(): number {
    return this.bytes;
  }

  get(key: string): V | undefined {
    const slot = this.slots.get(key);
    if (!slot) return undefined;
    if (slot.until <= this.now()) {
      this.delete(key);
      return undefined;
    }
    // Map iteration order is insertion order: re-inserting makes this the most recently used.
    this.slots.delete(key);
    this.slots.set(key, slot);
    return slot.entry;
  }

  set(key: string, entry: V): void {
    if (this.maxEntries <= 0) return;
    this.delete(key);
    const bytes = estimateBytes(entry);
    if (bytes > this.maxBytes) return;
    // Frozen: every request shares it, so none may change what the next one sees.
    this.slots.set(key, { entry: deepFreeze(entry), bytes, until: this.now() + this.ttlMs });
    this.bytes += bytes;
    while (this.slots.size > this.maxEntries || this.bytes > this.maxBytes) {
      const oldest = this.slots.keys().next();
      if (oldest.done) break;
      this.delete(oldest.value);
    }
  }

  delete(key: string): void {
    const slot = this.slots.get(key);
    if (!slot) return;
    this.slots.delete(key);
    this.bytes -= slot.bytes;
  }

  clear(): void {
    this.slots.clear();
    this.bytes = 0;
  }
}

/** Token entries keyed by the token's keyed hash. */
export class TokenCache extends BoundedCache<TokenEntry> {}

/** Two bytes per character of every string the entry holds (keys and values), plus fixed overhead. */
function estimateBytes(entry: object): number {
  let chars = 0;
  const walk = (value: unknown) => {
    if (typeof value === "string") chars += value.length;
    else if (Array.isArray(value)) for (const v of value) walk(v);
    else if (value && typeof value === "object") {
      for (const [k, v] of Object.entries(value)) {
        chars += k.length;
        walk(v);
      }
    } else chars += 8;
  };
  walk(entry);
  return ENTRY_OVERHEAD_BYTES + chars * 2;
}

/** Freezes `value` and everything it holds, so a cached object cannot be changed through a reader's reference. */
export function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
