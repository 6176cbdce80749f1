import { describe, expect, it } from "vitest";
import { createReviewCache, reviewCacheKey } from "./review-cache.js";

const ok = { authenticated: true, username: "system:serviceaccount:default:myapp" };

describe("review cache", () => {
  it("keys by a hash of the JWT and the audiences, in any order", () => {
    const key = reviewCacheKey("a.b.c", ["x", "y"]);
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    expect(key).not.toContain("a.b.c");
    expect(reviewCacheKey("a.b.c", ["y", "x"])).toBe(key);
    expect(reviewCacheKey("a.b.c", ["x"])).not.toBe(key);
    expect(reviewCacheKey("a.b.d", ["x", "y"])).not.toBe(key);
  });

  it("returns an entry until it expires", () => {
    let t = 1_000;
    const cache = createReviewCache(() => t);
    cache.set("k", ok, 2_000);
    expect(cache.get("k")).toBe(ok);
    t = 1_999;
    expect(cache.get("k")).toBe(ok);
    t = 2_000;
    expect(cache.get("k")).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it("ignores entries that are already expired", () => {
    const cache = createReviewCache(() => 5_000);
    cache.set("k", ok, 5_000);
    expect(cache.size).toBe(0);
  });

  it("stays within its bound, dropping expired entries first, then the oldest", () => {
    let t = 0;
    const cache = createReviewCache(() => t, 3);
    cache.set("short", ok, 10);
    cache.set("a", ok, 1_000);
    cache.set("b", ok, 1_000);
    t = 20;
    cache.set("c", ok, 1_000);
    expect([cache.get("short"), cache.size]).toEqual([undefined, 3]);
    cache.set("d", ok, 1_000);
    expect(cache.size).toBe(3);
    expect(cache.get("a")).toBeUndefined();
    expect(cache.get("d")).toBe(ok);
  });
});
