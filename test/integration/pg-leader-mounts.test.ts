import { afterAll, describe, expect, it } from "vitest";
import { api } from "../helpers/process.js";
import { pgReplicas, within } from "../ha/replicas.js";

/**
 * Two real `latchkey server` processes on one PostgreSQL schema: a mount or
 * auth method enabled, tuned, moved or disabled through one is served the same
 * way by the other within a second.
 */
describe("mount tables across replicas on postgresql", () => {
  const cluster = pgReplicas("mnt");
  const { start } = cluster;
  afterAll(() => cluster.cleanup());

  it("serves on one replica the mount changes made through another within a second", async () => {
    const a = await start();
    const init = await api(a.address, "PUT", "sys/init", undefined, { secret_shares: 1, secret_threshold: 1 });
    expect(init.status).toBe(200);
    const root = init.json.root_token as string;
    const b = await start();
    // Before: B does not know the mount.
    expect((await api(b.address, "GET", "team/data/app", root)).status).toBe(404);

    // Enabled on A, then written on A: B serves it.
    expect((await api(a.address, "POST", "sys/mounts/team", root, { type: "kv", options: { version: "2" } })).status).toBe(204);
    expect((await api(a.address, "POST", "team/data/app", root, { data: { v: "1" } })).status).toBe(200);
    const enabled = await within(
      async () => (await api(b.address, "GET", "team/data/app", root)).json.data?.data?.v === "1",
      1_000,
      "B to serve the new mount",
    );
    expect(enabled).toBeLessThan(1_000);

    // A tune on A: B reports it.
    expect((await api(a.address, "POST", "sys/mounts/team/tune", root, { description: "team secrets", max_lease_ttl: "2h" })).status).toBe(204);
    await within(
      async () => {
        const tune = await api(b.address, "GET", "sys/mounts/team/tune", root);
        return tune.json.description === "team secrets" && tune.json.max_lease_ttl === 7200;
      },
      1_000,
      "B to see the tune",
    );

    // An auth method enabled on A appears in B's auth table.
    expect((await api(a.address, "POST", "sys/auth/k8s", root, { type: "kubernetes" })).status).toBe(204);
    await within(async () => "k8s/" in ((await api(b.address, "GET", "sys/auth", root)).json.data ?? {}), 1_000, "B to list the auth method");

    // Moved on A: B serves the data at the new path and nothing at the old one.
    const moved = await api(a.address, "POST", "sys/remount", root, { from: "team", to: "crew" });
    expect(moved.status).toBe(200);
    await within(
      async () =>
        (await api(a.address, "GET", "crew/data/app", root)).status === 200 &&
        (await api(b.address, "GET", "crew/data/app", root)).json.data?.data?.v === "1" &&
        (await api(b.address, "GET", "team/data/app", root)).status === 404,
      5_000,
      "B to follow the remount",
    );

    // Disabled on A: B stops serving it.
    expect((await api(a.address, "DELETE", "sys/mounts/crew", root)).status).toBe(204);
    await within(async () => (await api(b.address, "GET", "crew/data/app", root)).status === 404, 1_000, "B to drop the mount");
    // B's table no longer lists it.
    expect((await api(b.address, "GET", "sys/mounts", root)).json.data?.["crew/"]).toBeUndefined();
  }, 120_000);
});
