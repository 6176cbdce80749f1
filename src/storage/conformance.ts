import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { PhysicalStore } from "./types.js";

export type StoreFactory = () => Promise<{ store: PhysicalStore; cleanup: () => Promise<void> }>;

const bytes = (text: string) => new TextEncoder().encode(text);

/**
 * The behaviour every PhysicalStore must share (memory, SQLite, PostgreSQL):
 * call it from the store's own test file with a factory for a fresh, empty store.
 */
export function runPhysicalStoreConformance(name: string, factory: StoreFactory): void {
  describe(`${name} physical store conformance`, () => {
    let store: PhysicalStore;
    let cleanup: () => Promise<void>;

    beforeEach(async () => {
      ({ store, cleanup } = await factory());
    });
    afterEach(async () => {
      await cleanup();
    });

    const putAll = async (keys: string[]) => {
      for (const key of keys) await store.put(key, bytes(key));
    };

    describe("get, put, delete", () => {
      it("returns undefined for a missing key", async () => {
        expect(await store.get("nope")).toBeUndefined();
      });

      it("reads back what was put, and the last put wins", async () => {
        await store.put("a/b", bytes("one"));
        expect(await store.get("a/b")).toEqual(bytes("one"));
        await store.put("a/b", bytes("two"));
        expect(await store.get("a/b")).toEqual(bytes("two"));
      });

      it("deletes, and deleting a missing key is not an error", async () => {
        await store.put("k", bytes("v"));
        await store.delete("k");
        expect(await store.get("k")).toBeUndefined();
        await expect(store.delete("k")).resolves.toBeUndefined();
      });

      it("keeps every byte value, and the empty value", async () => {
        const all = Uint8Array.from({ length: 256 }, (_, i) => i);
        await store.put("binary", all);
        await store.put("empty", new Uint8Array(0));
        const read = await store.get("binary");
        expect(read).toBeInstanceOf(Uint8Array);
        expect(read).toEqual(all);
        expect(await store.get("empty")).toEqual(new Uint8Array(0));
      });

      it("keeps a large value intact", async () => {
        const big = Uint8Array.from({ length: 1 << 20 }, (_, i) => (i * 7919) & 0xff);
        await store.put("big", big);
        const read = await store.get("big");
        expect(read && Buffer.compare(read, big)).toBe(0);
      });

      it("copies values in and out, so callers cannot change what is stored", async () => {
        const value = bytes("abc");
        await store.put("k", value);
        value[0] = 0;
        const read = (await store.get("k"))!;
        read[1] = 0;
        expect(await store.get("k")).toEqual(bytes("abc"));
      });

      it("treats keys as exact strings, unicode included", async () => {
        const keys = ["café/ñ", "cafe\u0301/ñ", "日本/鍵", "emoji/😀", "space key/x", "a\u0000b"];
        for (const [i, key] of keys.entries()) await store.put(key, bytes(String(i)));
        for (const [i, key] of keys.entries()) expect(await store.get(key)).toEqual(bytes(String(i)));
      });
    });

    describe("list", () => {
      it("returns immediate children sorted, folders once with a trailing slash", async () => {
        await putAll(["p/b", "p/a", "p/c/x", "p/c/y/z", "p/c", "q/other", "p-sibling", "p0"]);
        expect(await store.list("p/")).toEqual(["a", "b", "c", "c/"]);
        expect(await store.list("p/c/")).toEqual(["x", "y/"]);
      });

      it("lists the root with an empty prefix", async () => {
        await putAll(["a", "b/c", "b/d", "c/e/f"]);
        expect(await store.list("")).toEqual(["a", "b/", "c/"]);
      });

      it("returns nothing for a missing prefix, or for a leaf used as a prefix", async () => {
        await putAll(["a/b"]);
        expect(await store.list("x/")).toEqual([]);
        expect(await store.list("a/b/")).toEqual([]);
      });

      it("does not see keys that merely share the prefix's characters", async () => {
        await putAll(["foo/a", "foo.bar", "foo0", "foo-/b", "fo/c", "foo"]);
        expect(await store.list("foo/")).toEqual(["a"]);
      });

      it("pages with after and limit, folders included", async () => {
        await putAll(["d/a", "d/b/1", "d/b/2", "d/b", "d/c", "d/e/1", "d/f"]);
        const all = await store.list("d/");
        expect(all).toEqual(["a", "b", "b/", "c", "e/", "f"]);
        expect(await store.list("d/", undefined, 2)).toEqual(["a", "b"]);
        expect(await store.list("d/", "b", 2)).toEqual(["b/", "c"]);
        expect(await store.list("d/", "b/")).toEqual(["c", "e/", "f"]);
        expect(await store.list("d/", "bb")).toEqual(["c", "e/", "f"]);
        expect(await store.list("d/", "f")).toEqual([]);
        expect(await store.list("d/", "", 1)).toEqual(["a"]);
      });

      it("treats a limit of zero or less as no limit, as Vault's ListPage does", async () => {
        await putAll(["l/a", "l/b"]);
        expect(await store.list("l/", undefined, 0)).toEqual(["a", "b"]);
        expect(await store.scan("l/", undefined, -1)).toEqual(["a", "b"]);
      });

      it("pages through a wide, deep tree without losing or repeating a child", async () => {
        const keys: string[] = [];
        for (let i = 0; i < 40; i++) {
          const child = `w/c${String(i).padStart(2, "0")}`;
          if (i % 3 === 0) keys.push(child);
          if (i % 2 === 0) for (let j = 0; j < 25; j++) keys.push(`${child}/sub/${j}`);
        }
        await putAll(keys);
        const full = await store.list("w/");
        const paged: string[] = [];
        for (let after: string | undefined; ; ) {
          const page = await store.list("w/", after, 7);
          paged.push(...page);
          if (page.length < 7) break;
          after = page[page.length - 1];
        }
        expect(paged).toEqual(full);
        expect(full).toHaveLength(14 + 20);
        expect(full.slice(0, 4)).toEqual(["c00", "c00/", "c02/", "c03"]);
      });
    });

    describe("scan", () => {
      it("returns every key under the prefix, recursively, relative, ascending", async () => {
        await putAll(["s/b", "s/a/2", "s/a/1", "s/c", "s0", "t/x", "s"]);
        expect(await store.scan("s/")).toEqual(["a/1", "a/2", "b", "c"]);
        expect(await store.scan("")).toEqual(["s", "s/a/1", "s/a/2", "s/b", "s/c", "s0", "t/x"]);
      });

      it("pages with after (exclusive) and limit", async () => {
        await putAll(["e/0001", "e/0002", "e/0003", "e/0004"]);
        expect(await store.scan("e/", undefined, 2)).toEqual(["0001", "0002"]);
        expect(await store.scan("e/", "0002")).toEqual(["0003", "0004"]);
        expect(await store.scan("e/", "00025", 1)).toEqual(["0003"]);
        expect(await store.scan("e/", "0004")).toEqual([]);
      });

      it("orders by UTF-8 bytes (code points), not UTF-16 code units", async () => {
        // In UTF-16 "😀" (D83D DE00) sorts before "\uFFFD"; in bytes (F0.. vs EF..) after it.
        await putAll(["u/😀", "u/\uFFFD", "u/z", "u/é", "u/\uE000"]);
        expect(await store.scan("u/")).toEqual(["z", "é", "\uE000", "\uFFFD", "😀"]);
        expect(await store.list("u/")).toEqual(["z", "é", "\uE000", "\uFFFD", "😀"]);
        expect(await store.scan("u/", "\uFFFD")).toEqual(["😀"]);
        expect(await store.list("u/", "é", 2)).toEqual(["\uE000", "\uFFFD"]);
      });

      it("handles prefixes that end in non-ASCII characters", async () => {
        await putAll(["日本/a", "日本/b/c", "日本x", "日", "日本"]);
        expect(await store.scan("日本/")).toEqual(["a", "b/c"]);
        expect(await store.scan("日本")).toEqual(["", "/a", "/b/c", "x"]);
        expect(await store.list("日本/")).toEqual(["a", "b/"]);
      });
    });

    describe("transaction", () => {
      it("commits every write when fn resolves and returns its value", async () => {
        await store.put("t/old", bytes("old"));
        const result = await store.transaction(async (tx) => {
          await tx.put("t/a", bytes("a"));
          await tx.put("t/b", bytes("b"));
          await tx.delete("t/old");
          return 42;
        });
        expect(result).toBe(42);
        expect(await store.get("t/a")).toEqual(bytes("a"));
        expect(await store.get("t/b")).toEqual(bytes("b"));
        expect(await store.get("t/old")).toBeUndefined();
      });

      it("applies nothing when fn throws, and rethrows", async () => {
        await store.put("t/keep", bytes("keep"));
        const failure = new Error("boom");
        await expect(
          store.transaction(async (tx) => {
            await tx.put("t/a", bytes("a"));
            await tx.delete("t/keep");
            throw failure;
          }),
        ).rejects.toBe(failure);
        expect(await store.get("t/a")).toBeUndefined();
        expect(await store.get("t/keep")).toEqual(bytes("keep"));
        expect(await store.scan("t/")).toEqual(["keep"]);
      });

      it("reads its own writes through get, list and scan", async () => {
        await putAll(["r/a", "r/b", "r/d/1", "r/e/1"]);
        await store.transaction(async (tx) => {
          await tx.put("r/c", bytes("new"));
          await tx.put("r/a", bytes("changed"));
          await tx.delete("r/b");
          await tx.delete("r/e/1");
          await tx.put("r/f/1", bytes("x"));
          expect(await tx.get("r/c")).toEqual(bytes("new"));
          expect(await tx.get("r/a")).toEqual(bytes("changed"));
          expect(await tx.get("r/b")).toBeUndefined();
          expect(await tx.get("r/d/1")).toEqual(bytes("r/d/1"));
          expect(await tx.list("r/")).toEqual(["a", "c", "d/", "f/"]);
          expect(await tx.list("r/", "c", 1)).toEqual(["d/"]);
          expect(await tx.scan("r/")).toEqual(["a", "c", "d/1", "f/1"]);
          expect(await tx.scan("r/", "a", 2)).toEqual(["c", "d/1"]);
          await tx.delete("r/c");
          await tx.put("r/b", bytes("back"));
          expect(await tx.scan("r/")).toEqual(["a", "b", "d/1", "f/1"]);
        });
        expect(await store.scan("r/")).toEqual(["a", "b", "d/1", "f/1"]);
        expect(await store.get("r/b")).toEqual(bytes("back"));
      });

      it("keeps its writes invisible outside until it commits", async () => {
        let release!: () => void;
        const gate = new Promise<void>((resolve) => (release = resolve));
        const running = store.transaction(async (tx) => {
          await tx.put("iso/k", bytes("v"));
          await gate;
        });
        await new Promise((resolve) => setTimeout(resolve, 5));
        expect(await store.get("iso/k")).toBeUndefined();
        expect(await store.list("iso/")).toEqual([]);
        release();
        await running;
        expect(await store.get("iso/k")).toEqual(bytes("v"));
      });

      it("serialises concurrent read-modify-writes: no update is lost", async () => {
        await store.put("ctr", bytes("0"));
        const increment = () =>
          store.transaction(async (tx) => {
            const current = Number(new TextDecoder().decode(await tx.get("ctr")));
            await tx.put("ctr", bytes(String(current + 1)));
            return current;
          });
        const seen = await Promise.all(Array.from({ length: 50 }, increment));
        expect(new TextDecoder().decode(await store.get("ctr"))).toBe("50");
        expect([...seen].sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
      });

      it("lets exactly one of many concurrent transactions claim a key", async () => {
        const claim = (who: number) =>
          store.transaction(async (tx) => {
            if (await tx.get("claim/k")) return false;
            if ((await tx.list("claim/")).length > 0) return false;
            await tx.put("claim/k", bytes(String(who)));
            return true;
          });
        const won = await Promise.all(Array.from({ length: 20 }, (_, i) => claim(i)));
        expect(won.filter(Boolean)).toHaveLength(1);
      });

      it("sees a delete queued by an earlier transaction", async () => {
        await store.put("gone/k", bytes("v"));
        const [, after] = await Promise.all([
          store.transaction(async (tx) => tx.delete("gone/k")),
          store.transaction(async (tx) => ({ value: await tx.get("gone/k"), keys: await tx.scan("gone/") })),
        ]);
        expect(after).toEqual({ value: undefined, keys: [] });
      });

      it("keeps serving transactions after one throws", async () => {
        await expect(store.transaction(async () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
        await expect(store.transaction(async () => 7)).resolves.toBe(7);
      });

      it("copies values put inside a transaction", async () => {
        const value = bytes("abc");
        await store.transaction(async (tx) => {
          await tx.put("c/k", value);
          value[0] = 0;
        });
        expect(await store.get("c/k")).toEqual(bytes("abc"));
      });
    });
  });
}
