import { describe, expect, it } from "vitest";
import { LocalInvalidationBus } from "../../core/invalidation.js";
import type { StorageView } from "../../storage/types.js";
import { createKvBackend } from "./backend.js";
import { createMetadataCache } from "./metadata-cache.js";
import { createKvHarness } from "./test-harness.js";

/** A view that counts the reads that reach storage. */
function counting(view: StorageView): { view: StorageView; reads: string[] } {
  const reads: string[] = [];
  const wrapped: StorageView = {
    ...view,
    async get(key) {
      reads.push(key);
      return view.get(key);
    },
    async getJSON<T>(key: string) {
      reads.push(key);
      return view.getJSON<T>(key);
    },
  };
  return { view: wrapped, reads };
}

/** Two KV backends (two replicas' mounts) over one store, joined by one bus. */
function twoReplicas(opts: { bus?: boolean; sharedStorage?: boolean } = {}) {
  const bus = opts.bus === false ? undefined : new LocalInvalidationBus();
  const ctx = { mountPath: "secret/", invalidations: bus, sharedStorage: opts.sharedStorage };
  const a = createKvHarness(undefined, { backend: (now) => createKvBackend({ now, ctx }) });
  const b = createKvHarness(undefined, { backend: (now) => createKvBackend({ now, ctx }) });
  const shared = a.storage;
  const read = async (h: typeof a, path: string, data: Record<string, unknown> = {}) => {
    try {
      return await h.call("read", `data/${path}`, data, shared);
    } catch (err) {
      return { status: (err as { status?: number }).status };
    }
  };
  return { a, b, shared, read };
}

describe("the KV v2 metadata cache", () => {
  it("serves a repeated read of the latest version with one storage read, the version's own", async () => {
    const kv = createKvHarness();
    await kv.write("data/app", { data: { v: "1" } });
    const { view, reads } = counting(kv.storage);
    expect((await kv.call("read", "data/app", {}, view))?.data).toMatchObject({ data: { v: "1" } });
    reads.length = 0;
    expect((await kv.call("read", "data/app", {}, view))?.data).toMatchObject({ data: { v: "1" } });
    expect(reads).toEqual(["ver/app/1"]);
  });

  it("never serves another replica's overwritten, soft-deleted, undeleted, destroyed or deleted state", async () => {
    const { a, b, shared, read } = twoReplicas();
    await a.call("create", "data/app", { data: { v: "1" } }, shared);
    expect((await read(b, "app"))?.data).toMatchObject({ data: { v: "1" }, metadata: { version: 1 } });

    await a.call("update", "data/app", { data: { v: "2" } }, shared);
    expect((await read(b, "app"))?.data).toMatchObject({ data: { v: "2" }, metadata: { version: 2 } });

    await a.call("delete", "data/app", {}, shared);
    const deleted = await read(b, "app");
    expect(deleted?.status).toBe(404);
    expect(deleted?.data).toMatchObject({ data: null, metadata: { version: 2 } });

    await a.call("update", "undelete/app", { versions: [2] }, shared);
    expect((await read(b, "app"))?.data).toMatchObject({ data: { v: "2" } });

    await a.call("update", "destroy/app", { versions: [2] }, shared);
    expect((await read(b, "app"))?.data).toMatchObject({ data: null, metadata: { destroyed: true } });

    await a.call("update", "metadata/app", { custom_metadata: { team: "blue" } }, shared);
    expect((await read(b, "app", { version: 1 }))?.data).toMatchObject({ metadata: { custom_metadata: { team: "blue" } } });

    await a.call("delete", "metadata/app", {}, shared);
    expect((await read(b, "app"))?.status).toBe(404);
  });

  it("rereads metadata whose version's data has gone, though no invalidation said so", async () => {
    // No bus between them: b never hears of a's writes, as when a NOTIFY is lost.
    const { a, b, shared, read } = twoReplicas({ bus: false });
    await a.call("create", "data/app", { data: { v: "1" } }, shared);
    expect((await read(b, "app"))?.data).toMatchObject({ data: { v: "1" } });
    await a.call("delete", "metadata/app", {}, shared);
    expect((await read(b, "app"))?.status).toBe(404);
  });

  it("caches nothing when other replicas share the storage and no bus carries their writes", async () => {
    const { a, b, shared, read } = twoReplicas({ bus: false, sharedStorage: true });
    await a.call("create", "data/app", { data: { v: "1" } }, shared);
    expect((await read(b, "app"))?.data).toMatchObject({ data: { v: "1" } });
    await a.call("update", "data/app", { data: { v: "2" } }, shared);
    expect((await read(b, "app"))?.data).toMatchObject({ data: { v: "2" } });
  });

  it("keeps what a read in flight during an invalidation found out of the cache", async () => {
    const kv = createKvHarness();
    await kv.write("data/app", { data: { v: "1" } });
    const bus = new LocalInvalidationBus();
    const cache = createMetadataCache({ mountPath: "secret/", invalidations: bus });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const slow: StorageView = {
      ...kv.storage,
      async getJSON<T>(key: string) {
        const value = await kv.storage.getJSON<T>(key);
        await gate;
        return value;
      },
    };
    const inFlight = cache.read(slow, "app");
    bus.publish({ kind: "kv-metadata", mount: "secret/", path: "app" });
    release();
    expect((await inFlight)?.current_version).toBe(1);
    const { view, reads } = counting(kv.storage);
    await cache.read(view, "app");
    expect(reads).toEqual(["meta/app"]);
  });

  it("drops everything on a mounts or all invalidation and when stopped, and ignores other mounts", async () => {
    const kv = createKvHarness();
    await kv.write("data/app", { data: { v: "1" } });
    const bus = new LocalInvalidationBus();
    const cache = createMetadataCache({ mountPath: "secret/", invalidations: bus });
    const { view, reads } = counting(kv.storage);
    const readsAfter = async (ev?: Parameters<typeof bus.publish>[0]) => {
      await cache.read(view, "app");
      if (ev) bus.publish(ev);
      reads.length = 0;
      await cache.read(view, "app");
      return reads.length;
    };
    expect(await readsAfter()).toBe(0);
    expect(await readsAfter({ kind: "kv-metadata", mount: "other/", path: "app" })).toBe(0);
    expect(await readsAfter({ kind: "kv-metadata", mount: "secret/", path: "app" })).toBe(1);
    expect(await readsAfter({ kind: "mounts" })).toBe(1);
    expect(await readsAfter({ kind: "all" })).toBe(1);
    cache.stop();
    reads.length = 0;
    await cache.read(view, "app");
    expect(reads).toEqual(["meta/app"]);
  });
});
