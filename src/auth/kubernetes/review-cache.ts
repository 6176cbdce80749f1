import { createHash } from "node:crypto";
import type { ReviewResult } from "./types.js";

/**
 * Successful TokenReviews, reused for a few seconds (`review_cache_ttl`, at
 * most 10) so that a burst of logins with the same JWT costs one API call.
 * Keyed by a SHA-256 of the audiences asked for and the JWT, so the JWT itself
 * is never held as a key; bounded, oldest entry evicted first.
 */
export interface ReviewCache {
  get(key: string): ReviewResult | undefined;
  set(key: string, result: ReviewResult, expiresAtMs: number): void;
  readonly size: number;
}

export const DEFAULT_REVIEW_CACHE_ENTRIES = 10_000;

export function reviewCacheKey(jwt: string, audiences: string[]): string {
  return createHash("sha256").update(JSON.stringify([...audiences].sort())).update("\n").update(jwt).digest("hex");
}

export function createReviewCache(now: () => number, maxEntries = DEFAULT_REVIEW_CACHE_ENTRIES): ReviewCache {
  const entries = new Map<string, { result: ReviewResult; expiresAtMs: number }>();
  return {
    get(key) {
      const entry = entries.get(key);
      if (!entry) return undefined;
      if (entry.expiresAtMs <= now()) {
        entries.delete(key);
        return undefined;
      }
      return entry.result;
    },
    set(key, result, expiresAtMs) {
      if (expiresAtMs <= now()) return;
      entries.delete(key);
      if (entries.size >= maxEntries) evict();
      entries.set(key, { result, expiresAtMs });
    },
    get size() {
      return entries.size;
    },
  };

  /** Drops expired entries from the old end (entries are kept in insertion order), then the oldest if still full. */
  function evict() {
    const t = now();
    for (const [key, entry] of entries) {
      if (entry.expiresAtMs > t) break;
      entries.delete(key);
    }
    if (entries.size >= maxEntries) {
      const oldest = entries.keys().next();
      if (!oldest.done) entries.delete(oldest.value);
    }
  }
}
