import { describe, expect, it } from "vitest";
import type { BackendContext } from "../../core/types.js";
import { createMemoryStore } from "../../storage/memory.js";
import type { PhysicalStore } from "../../storage/types.js";
import { createView } from "../../storage/view.js";
import { kvBackendFactory, kvV2BackendFactory } from "./index.js";
import { createKvHarness, findPath } from "./test-harness.js";

const silent = { debug() {}, info() {}, warn() {}, error() {} };

function context(options: Record<string, string> = { version: "2" }): BackendContext {
  return {
    storage: createView(createMemoryStore()),
    mountPath: "secret/",
    config: { defaultLeaseTtl: 0, maxLeaseTtl: 0, options },
    logger: silent,
  };
}

/** A physical store that counts reads and can be told to fail a write inside a transaction. */
function instrumented(inner: PhysicalStore, failPut?: (key: string) => boolean) {
  const counts = { gets: 0 };
  const store: PhysicalStore = {
    ...inner,
    get: (key) => {
      counts.gets++;
      return inner.get(key);
    },
    transaction: (fn) =>
      inner.transaction((tx) =>
        fn({
          ...tx,
          get: (key) => {
            counts.gets++;
            return tx.get(key);
          },
          put: async (key, value) => {
            if (failPut?.(key)) throw new Error("disk full");
            return tx.put(key, value);
          },
        }),
      ),
  };
  return { store, counts };
}

describe("kvBackendFactory", () => {
  it("declares Vault's KV v2 paths", async () => {
    const backend = await kvBackendFactory(context());
    expect(backend.paths.map((p) => p.pattern)).toEqual([
      "config",
      "data/*path",
      "metadata",
      "metadata/",
      "metadata/*path",
      "subkeys/*path",
      "delete/*path",
      "undelete/*path",
      "destroy/*path",
    ]);
    for (const def of backend.paths) {
      if (def.ops.update) expect(def.ops.create).toBe(def.ops.update);
      expect(def.help).toBeTruthy();
    }
  });

  it("mounts version 1 unless options.version is 2", async () => {
    const patterns = async (options: Record<string, string>) => (await kvBackendFactory(context(options))).paths.map((p) => p.pattern);
    expect(await patterns({})).toEqual(["", "*path"]);
    expect(await patterns({ version: "1" })).toEqual(["", "*path"]);
    expect(await patterns({ version: "2" })).toContain("data/*path");
    await expect(async () => kvBackendFactory(context({ version: "3" }))).rejects.toMatchObject({
      status: 400,
      message: 'field "options.version" must be "1" or "2", not "3"',
    });
  });

  it("mounts version 2 for the kv-v2 type, whatever the options say", async () => {
    expect((await kvV2BackendFactory(context({}))).paths.map((p) => p.pattern)).toContain("subkeys/*path");
    expect((await kvV2BackendFactory(context({ version: "1" }))).paths.map((p) => p.pattern)).toContain("data/*path");
  });

  it("gives each mount its own backend", async () => {
    expect(await kvBackendFactory(context())).not.toBe(await kvBackendFactory(context()));
  });

  it("routes through the core router: *path needs a non-empty rest", () => {
    const { backend } = createKvHarness();
    expect(findPath(backend.paths, "data/a/b")?.params).toEqual({ path: "a/b" });
    expect(findPath(backend.paths, "metadata/team/")?.params).toEqual({ path: "team/" });
    expect(findPath(backend.paths, "metadata")?.def.pattern).toBe("metadata");
    expect(findPath(backend.paths, "metadata/")?.def.pattern).toBe("metadata/");
    expect(findPath(backend.paths, "data/")).toBeUndefined();
    expect(findPath(backend.paths, "config/x")).toBeUndefined();
  });
});

describe("existence check", () => {
  it("makes the first write a create and later ones updates", async () => {
    const h = createKvHarness();
    for (const pattern of ["data/*path", "metadata/*path"]) {
      const def = h.backend.paths.find((p) => p.pattern === pattern);
      const req = (path: string) => ({
        operation: "update" as const,
        path,
        params: { path },
        data: {},
        mountPath: "secret/",
        connection: { remoteAddress: "127.0.0.1" },
        storage: h.storage,
        requestId: "r",
      });
      expect(await def?.exists?.(req("app"))).toBe(false);
      await h.write("data/app", { data: { a: "1" } });
      expect(await def?.exists?.(req("app"))).toBe(true);
      await h.call("delete", "metadata/app");
    }
  });
});

describe("storage", () => {
  it("reads a secret with at most two storage gets", async () => {
    const h = createKvHarness();
    for (let i = 0; i < 5; i++) await h.write("data/app", { data: { i } });
    const { store, counts } = instrumented(h.store);
    const view = createView(store, "logical/kv-test/");
    await h.call("read", "data/app", {}, view);
    expect(counts.gets).toBeLessThanOrEqual(2);
    counts.gets = 0;
    await h.call("read", "data/app", { version: "2" }, view);
    expect(counts.gets).toBeLessThanOrEqual(2);
    counts.gets = 0;
    await h.call("read", "metadata/app", {}, view);
    expect(counts.gets).toBe(1);
  });

  it("never leaves metadata pointing at data that was not written", async () => {
    const h = createKvHarness();
    await h.write("data/app", { data: { v: "1" } });
    const { store } = instrumented(h.store, (key) => key.includes("/meta/"));
    const view = createView(store, "logical/kv-test/");
    await expect(h.call("update", "data/app", { data: { v: "2" } }, view)).rejects.toThrow("disk full");
    expect(await h.storage.list("ver/app/")).toEqual(["1"]);
    expect((await h.call("read", "data/app"))?.data).toMatchObject({ data: { v: "1" }, metadata: { version: 1 } });
  });

  it("never deletes trimmed data without updating the metadata", async () => {
    const h = createKvHarness();
    await h.write("config", { max_versions: 1 });
    await h.write("data/app", { data: { v: "1" } });
    const { store } = instrumented(h.store, (key) => key.includes("/meta/"));
    await expect(h.call("update", "data/app", { data: { v: "2" } }, createView(store, "logical/kv-test/"))).rejects.toThrow();
    expect((await h.call("read", "data/app"))?.data?.data).toEqual({ v: "1" });
  });

  it("keeps secret values out of storage keys", async () => {
    const h = createKvHarness();
    await h.write("data/app", { data: { password: "hunter2-value" } });
    expect((await h.store.scan("")).join("\n")).not.toContain("hunter2");
    expect(await h.store.scan("")).toEqual(["logical/kv-test/meta/app", "logical/kv-test/ver/app/1"]);
  });

  it("keeps a secret and a secret below it apart", async () => {
    const h = createKvHarness();
    await h.write("data/a", { data: { who: "a" } });
    await h.write("data/a/1", { data: { who: "a/1" } });
    await h.call("delete", "metadata/a");
    expect((await h.call("read", "data/a/1"))?.data?.data).toEqual({ who: "a/1" });
  });
});

describe("concurrent writes", () => {
  it("give every write its own version", async () => {
    const h = createKvHarness();
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => h.write("data/app", { data: { i } })));
    expect(new Set(results.map((r) => r?.data?.version)).size).toBe(20);
    expect((await h.call("read", "metadata/app"))?.data?.current_version).toBe(20);
  });

  it("let exactly one cas=0 create win", async () => {
    const h = createKvHarness();
    const results = await Promise.allSettled(
      Array.from({ length: 5 }, (_, i) => h.call("update", "data/app", { data: { i }, options: { cas: 0 } })),
    );
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    expect(results.filter((r) => r.status === "rejected")).toHaveLength(4);
  });
});
