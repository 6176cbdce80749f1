import { describe, expect, it } from "vitest";
import { runPhysicalStoreConformance } from "../../src/storage/conformance.js";
import { createPostgresStore } from "../../src/storage/postgres.js";
import { pgQuery, pgUrl, tempPgStore, uniqueSchema } from "../ha/pg.js";
import { startTcpProxy } from "../helpers/proxy.js";

runPhysicalStoreConformance("postgresql", () => tempPgStore());

const bytes = (text: string) => new TextEncoder().encode(text);

describe("postgresql store", () => {
  it("creates its schema and a kv table keyed in the C collation on first use", async () => {
    const { schema, store, cleanup } = await tempPgStore();
    await store.put("k", bytes("v"));
    const { rows } = await pgQuery<{ column_name: string; data_type: string; collation_name: string | null }>(
      "SELECT column_name, data_type, collation_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'kv' ORDER BY ordinal_position",
      [schema],
    );
    expect(rows).toEqual([
      { column_name: "key", data_type: "text", collation_name: "C" },
      { column_name: "value", data_type: "bytea", collation_name: null },
    ]);
    await cleanup();
  });

  it("lets several stores (replicas) create the same schema at once and see each other's writes", async () => {
    const schema = uniqueSchema("race");
    const stores = Array.from({ length: 4 }, () => createPostgresStore({ url: pgUrl(), schema }));
    await Promise.all(stores.map((s, i) => s.put(`k${i}`, bytes(String(i)))));
    for (const s of stores) expect(await s.scan("")).toEqual(["k0", "k1", "k2", "k3"]);
    await Promise.all(stores.map((s) => s.close()));
    await pgQuery(`DROP SCHEMA ${schema} CASCADE`);
  });

  it("never loses a read-modify-write when transactions on two stores race (serializable, retried)", async () => {
    const { schema, store, cleanup } = await tempPgStore();
    const other = createPostgresStore({ url: pgUrl(), schema, poolSize: 5 });
    await store.put("counter", bytes("0"));
    const increment = (s: typeof store) =>
      s.transaction(async (tx) => {
        const n = Number(new TextDecoder().decode(await tx.get("counter")));
        await tx.put("counter", bytes(String(n + 1)));
      });
    await Promise.all(Array.from({ length: 40 }, (_, i) => increment(i % 2 ? store : other)));
    expect(new TextDecoder().decode(await store.get("counter"))).toBe("40");
    await other.close();
    await cleanup();
  }, 60_000);

  it("lists a child with a huge subtree by seeking past it, not reading it", async () => {
    const { schema, store, cleanup } = await tempPgStore();
    await store.put("big/a", bytes("1"));
    await store.put("big/z", bytes("1"));
    await pgQuery(
      `INSERT INTO ${schema}.kv SELECT 'big/deep/' || lpad(i::text, 6, '0'), '\\x01'::bytea FROM generate_series(1, 50000) AS i`,
    );
    // One scan reads the whole 50k-key subtree; a list that read it too would
    // cost about as much, one that seeks past it a few point reads. The fastest
    // of five lists is compared, so that a pause on a loaded machine does not count.
    const started = performance.now();
    expect(await store.scan("big/deep/")).toHaveLength(50_000);
    const scanTime = performance.now() - started;
    let fastestList = Infinity;
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      expect(await store.list("big/")).toEqual(["a", "deep/", "z"]);
      fastestList = Math.min(fastestList, performance.now() - t);
    }
    expect(fastestList).toBeLessThan(scanTime / 2);
    await cleanup();
  });

  it("pages through a folder of more leaves than one read fetches", async () => {
    const { schema, store, cleanup } = await tempPgStore();
    await store.put("f/0000", bytes("1"));
    await pgQuery(
      `INSERT INTO ${schema}.kv SELECT 'f/' || lpad(i::text, 4, '0'), '\\x01'::bytea FROM generate_series(1, 1000) AS i`,
    );
    const all = await store.list("f/");
    expect(all).toHaveLength(1001);
    expect(all[1000]).toBe("1000");
    expect(await store.list("f/", "0600", 3)).toEqual(["0601", "0602", "0603"]);
    await cleanup();
  });

  it("stores keys with NUL and U+0001 so that order and prefixes still hold", async () => {
    const { store, cleanup } = await tempPgStore();
    const keys = ["p/a\u0000", "p/a\u0001", "p/a\u0001\u0000/x", "p/a", "p/a\u0002", "p/b"];
    for (const key of keys) await store.put(key, bytes(key));
    expect(await store.scan("p/")).toEqual(["a", "a\u0000", "a\u0001", "a\u0001\u0000/x", "a\u0002", "b"]);
    expect(await store.list("p/")).toEqual(["a", "a\u0000", "a\u0001", "a\u0001\u0000/", "a\u0002", "b"]);
    expect(await store.scan("p/a\u0001")).toEqual(["", "\u0000/x"]);
    expect(await store.get("p/a\u0001\u0000/x")).toEqual(bytes("p/a\u0001\u0000/x"));
    await cleanup();
  });

  it("reports an unreachable database as 503 saying so, without the URL or its password", async () => {
    const url = "postgres://latchkey:s3cret-pg-password@127.0.0.1:1/latchkey";
    const store = createPostgresStore({ url, connectTimeoutMs: 2000 });
    const err = await store.get("k").catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 503, code: "LK_ERR_UPSTREAM" });
    expect((err as Error).message).toMatch(/database is unreachable/);
    expect((err as Error).message).not.toContain("s3cret");
    await expect(store.transaction(async (tx) => tx.get("k"))).rejects.toMatchObject({ status: 503 });
    await store.close();
  });

  it("answers 503 while the database is unreachable and serves again when it is back, with the same store", async () => {
    // A TCP proxy in front of the test server stands for the network path to the database.
    const proxy = await startTcpProxy(pgUrl());
    const { store, cleanup } = await tempPgStore({ url: proxy.url, connectTimeoutMs: 1000 });
    await store.put("before", bytes("1"));

    // The outage: every connection cut, every new one refused.
    proxy.cut();
    const err = await store.get("before").catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 503, code: "LK_ERR_UPSTREAM" });
    expect((err as Error).message).toMatch(/the database is unreachable/);
    await expect(store.transaction((tx) => tx.put("during", bytes("x")))).rejects.toMatchObject({ status: 503 });

    proxy.restore();
    const deadline = Date.now() + 15_000;
    let back: Uint8Array | undefined;
    while (!back && Date.now() < deadline) back = await store.get("before").catch(() => undefined);
    expect(back).toEqual(bytes("1"));
    expect(await store.get("during")).toBeUndefined();
    await store.put("after", bytes("2"));
    await cleanup();
    await proxy.close();
  }, 60_000);
});
