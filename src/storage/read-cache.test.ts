import { describe, expect, it } from "vitest";
import { createReadCache, ENTRY_OVERHEAD } from "./read-cache.js";

const bytes = (n: number, fill = 1) => new Uint8Array(n).fill(fill);

describe("read cache", () => {
  it("keeps at most its entries, the oldest unused going first", () => {
    const cache = createReadCache({ entries: 3, bytes: 1 << 20 });
    for (const k of ["a", "b", "c", "d"]) cache.read(k, bytes(1));
    expect(cache.size).toBe(3);
    expect(cache.get("a")).toBeUndefined();
    expect(cache.get("d")).toEqual(bytes(1));
  });

  it("gives an entry read since it came in a second chance", () => {
    const cache = createReadCache({ entries: 3, bytes: 1 << 20 });
    for (const k of ["a", "b", "c"]) cache.read(k, bytes(1));
    expect(cache.get("a")).toBeDefined(); // a is used: b, the oldest unused, goes next
    cache.read("d", bytes(1));
    expect(cache.get("b")).toBeUndefined();
    // a came round again unmarked, behind c and d; c and d, unused, go before it.
    cache.read("e", bytes(1));
    cache.read("f", bytes(1));
    expect(cache.get("c")).toBeUndefined();
    expect(cache.get("d")).toBeUndefined();
    expect(cache.size).toBe(3);
  });

  it("evicts an entry that was not read again once it is the oldest", () => {
    const cache = createReadCache({ entries: 2, bytes: 1 << 20 });
    cache.read("a", bytes(1));
    cache.read("b", bytes(1));
    cache.read("c", bytes(1));
    expect(cache.get("a")).toBeUndefined();
    expect(cache.get("b")).toBeDefined();
    expect(cache.get("c")).toBeDefined();
  });

  it("keeps at most its bytes, counting keys and each entry's overhead, and never a value larger than all of them", () => {
    const entry = 30 + 2 + ENTRY_OVERHEAD; // a 30-byte value under a two-character key
    const cache = createReadCache({ entries: 100, bytes: 3 * entry + 10 });
    for (let i = 0; i < 5; i++) cache.read(`k${i}`, bytes(30));
    expect(cache.size).toBe(3);
    expect(cache.bytes).toBe(3 * entry);
    cache.read("huge", bytes(3 * entry));
    expect(cache.get("huge")).toBeUndefined();
    expect(cache.bytes).toBe(3 * entry);
  });

  it("takes a committed write or delete of a key it holds, and ignores writes of others", () => {
    const cache = createReadCache({ entries: 10, bytes: 1 << 20 });
    cache.read("k", bytes(4, 1));
    cache.wrote("k", bytes(8, 2));
    expect(cache.get("k")).toEqual(bytes(8, 2));
    expect(cache.bytes).toBe(8 + 1 + ENTRY_OVERHEAD);
    cache.wrote("other", bytes(4));
    expect(cache.get("other")).toBeUndefined();
    cache.wrote("k", null);
    expect(cache.get("k")).toBeUndefined();
    expect(cache.bytes).toBe(0);
  });

  it("keeps nothing with cache_size 0", () => {
    const cache = createReadCache({ entries: 0, bytes: 1 << 20 });
    cache.read("k", bytes(1));
    expect(cache.get("k")).toBeUndefined();
    expect(cache.size).toBe(0);
  });
});
