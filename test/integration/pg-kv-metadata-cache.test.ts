import { afterAll, describe, expect, it } from "vitest";
import { api, type ServerProcess } from "../helpers/process.js";
import { initRoot, pgReplicas, within } from "../ha/replicas.js";

/**
 * Each replica caches the metadata of the KV v2 secrets it reads. A write on
 * one replica must reach the other's next reads through the invalidation bus
 * (LISTEN/NOTIFY), well before the cache's own 10 s limit would hide a lost one.
 */
const INVALIDATION_MS = 5_000;

describe("KV v2 metadata cached on two postgresql replicas", () => {
  const replicas = pgReplicas("kvmeta");
  afterAll(() => replicas.cleanup());

  it("never serves for long what the other replica overwrote, deleted, undeleted or destroyed", async () => {
    const a = await replicas.start();
    const root = await initRoot(a);
    expect((await api(a.address, "POST", "sys/mounts/secret", root, { type: "kv", options: { version: "2" } })).status).toBe(204);
    const b = await replicas.start();
    const read = (s: ServerProcess) => api(s.address, "GET", "secret/data/app", root);
    /** Reads on `s` until `check` holds, as a client polling the other replica would. */
    const seen = (s: ServerProcess, what: string, check: (r: Awaited<ReturnType<typeof read>>) => boolean) =>
      within(async () => check(await read(s)), INVALIDATION_MS, what);

    expect((await api(a.address, "POST", "secret/data/app", root, { data: { v: "1" } })).status).toBe(200);
    // Both replicas now hold version 1's metadata.
    await seen(b, "version 1 on b", (r) => r.status === 200 && r.json.data.data.v === "1");
    await seen(a, "version 1 on a", (r) => r.status === 200 && r.json.data.data.v === "1");

    expect((await api(a.address, "POST", "secret/data/app", root, { data: { v: "2" } })).status).toBe(200);
    await seen(b, "version 2 on b", (r) => r.status === 200 && r.json.data.data.v === "2");

    expect((await api(b.address, "DELETE", "secret/data/app", root)).status).toBe(204);
    await seen(a, "the soft delete on a", (r) => r.status === 404 && r.json.data.metadata.deletion_time !== "");

    expect((await api(a.address, "POST", "secret/undelete/app", root, { versions: [2] })).status).toBe(204);
    await seen(b, "the undelete on b", (r) => r.status === 200 && r.json.data.data.v === "2");

    expect((await api(b.address, "POST", "secret/metadata/app", root, { custom_metadata: { team: "blue" } })).status).toBe(204);
    await seen(a, "custom metadata on a", (r) => r.json.data?.metadata?.custom_metadata?.team === "blue");

    expect((await api(a.address, "POST", "secret/destroy/app", root, { versions: [2] })).status).toBe(204);
    await seen(b, "the destroy on b", (r) => r.status === 404 && r.json.data.metadata.destroyed === true);

    expect((await api(b.address, "DELETE", "secret/metadata/app", root)).status).toBe(204);
    await seen(a, "the metadata delete on a", (r) => r.status === 404 && r.json.errors !== undefined);
    expect((await read(a)).json).toEqual({ errors: [] });
  }, 120_000);
});
