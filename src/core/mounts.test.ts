import { describe, expect, it } from "vitest";
import { recordingLogger } from "../auth/kubernetes/test-harness.js";
import { createMemoryStore } from "../storage/memory.js";
import { createCore, type ApiResponse } from "./core.js";
import type { Backend, BackendFactory, LeaseEntry } from "./types.js";

/** A secrets engine whose `creds` hands out a leased secret and records what it is asked to revoke. */
function leasingEngine() {
  const revoked: LeaseEntry[] = [];
  const factory: BackendFactory = (): Backend => ({
    paths: [
      {
        pattern: "creds",
        ops: { read: async () => ({ data: { user: "u1" }, secret: { ttl: 600, renewable: true, internal: { user: "u1" } } }) },
      },
    ],
    revoke: async (lease) => {
      revoked.push(lease);
    },
  });
  return { factory, revoked };
}

/** The envelope's data, or lease id, of a response that has one. */
const dataOf = (res: ApiResponse) => (res.body && "data" in res.body ? (res.body.data ?? {}) : {});
const leaseIdOf = (res: ApiResponse) => (res.body && "lease_id" in res.body ? res.body.lease_id : "");

const cubbyhole: BackendFactory = (): Backend => ({ paths: [] });

async function initialised(mounts: Record<string, BackendFactory>) {
  const core = createCore({
    physical: createMemoryStore(),
    seal: { type: "shamir" },
    storageType: "memory",
    logger: recordingLogger(),
    backends: { mounts, auth: {} },
  });
  const { keys, rootToken } = await core.initialize({ secretShares: 1, secretThreshold: 1 });
  const call = (method: string, path: string, body: Record<string, unknown> = {}) =>
    core.handle({ method, path, query: {}, body, token: rootToken, remoteAddress: "127.0.0.1" });
  return { core, call, unsealKey: Buffer.from(keys[0]).toString("base64") };
}

describe("the cubbyhole/ mount", () => {
  it("is there once a cubbyhole engine is registered, local, and cannot be disabled or moved", async () => {
    const { core, call } = await initialised({ cubbyhole });
    const listed = await call("GET", "sys/mounts");
    const data = dataOf(listed);
    expect(Object.keys(data)).toEqual(["cubbyhole/", "sys/"]);
    expect(data["cubbyhole/"]).toMatchObject({
      type: "cubbyhole",
      description: "per-token private secret storage",
      local: true,
      options: null,
      accessor: expect.stringMatching(/^cubbyhole_[0-9a-f]{8}$/),
    });
    const disabled = await call("DELETE", "sys/mounts/cubbyhole");
    expect(disabled).toEqual({ status: 400, body: { errors: ['cannot unmount "cubbyhole/"'] } });
    const moved = await call("POST", "sys/remount", { from: "cubbyhole", to: "elsewhere" });
    expect(moved).toEqual({ status: 400, body: { errors: ['cannot remount "cubbyhole/"'] } });
    await core.close();
  });

  it("is added once, and keeps its uuid across unseals", async () => {
    const { core, call, unsealKey } = await initialised({ cubbyhole });
    const uuid = () => core.services.mounts.list("mounts").filter((e) => e.type === "cubbyhole").map((e) => e.uuid);
    const first = uuid();
    expect(first).toHaveLength(1);
    await call("PUT", "sys/seal");
    const unsealed = await core.handle({ method: "PUT", path: "sys/unseal", query: {}, body: { key: unsealKey }, remoteAddress: "127.0.0.1" });
    expect(unsealed.status).toBe(200);
    expect(uuid()).toEqual(first);
    await core.close();
  });
});

describe("sys/remount of a secrets engine", () => {
  it("re-keys its leases under the new path, where they renew and revoke through the moved mount", async () => {
    const engine = leasingEngine();
    const { core, call } = await initialised({ leasing: engine.factory });
    await core.services.mounts.enable("mounts", "dyn", { type: "leasing" });
    const issued = await call("GET", "dyn/creds");
    const leaseId = leaseIdOf(issued);
    expect(leaseId).toMatch(/^dyn\/creds\/\w+$/);

    expect((await call("POST", "sys/remount", { from: "dyn", to: "dyn2" })).status).toBe(200);
    const movedId = leaseId.replace(/^dyn\//, "dyn2/");
    expect((await call("PUT", "sys/leases/lookup", { lease_id: leaseId })).status).toBe(400);
    const lookup = await call("PUT", "sys/leases/lookup", { lease_id: movedId });
    expect(lookup.status).toBe(200);
    expect(dataOf(lookup).ttl).toBeGreaterThan(590);

    expect((await call("PUT", "sys/leases/renew", { lease_id: movedId, increment: "5m" })).status).toBe(200);
    expect((await call("PUT", "sys/leases/revoke", { lease_id: movedId })).status).toBe(204);
    expect(engine.revoked).toEqual([
      expect.objectContaining({ leaseId: movedId, mountPath: "dyn2/", path: "creds", internal: { user: "u1" } }),
    ]);
    await core.close();
  });

  it("revokes them with the moved mount when it is disabled", async () => {
    const engine = leasingEngine();
    const { core, call } = await initialised({ leasing: engine.factory });
    await core.services.mounts.enable("mounts", "dyn", { type: "leasing" });
    await call("GET", "dyn/creds");
    await call("POST", "sys/remount", { from: "dyn", to: "dyn2" });
    expect((await call("DELETE", "sys/mounts/dyn2")).status).toBe(204);
    expect(engine.revoked.map((l) => l.mountPath)).toEqual(["dyn2/"]);
    await core.close();
  });
});
