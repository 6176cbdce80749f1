import { describe, expect, it } from "vitest";
import { createLeaseManager } from "../../core/leases/manager.js";
import { mountLeases } from "../../core/mounts.js";
import { createMemoryStore } from "../../storage/memory.js";
import { createView } from "../../storage/view.js";
import { collectionPath } from "./objects.js";
import { getIntent, listIntents, putIntent } from "./store.js";
import { credsEngine, fakeCluster } from "./test-harness.js";
import type { IntentRecord, ObjectRef } from "./types.js";

const NOW = 1_800_000_000;
const DYNAMIC = { kubernetes_role_name: "view", kubernetes_role_type: "ClusterRole", allowed_kubernetes_namespaces: ["team-a"], token_default_ttl: "1h" };

/** The engine of a server whose previous run ("run-1") is about to be cut off. */
async function setup() {
  const lk = await credsEngine(fakeCluster(), { now: () => NOW * 1000 });
  await lk.role("jit", DYNAMIC);
  const issue = async () => {
    const res = await lk.creds("jit");
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return { leaseId: res.body.lease_id as string, name: res.body.data.service_account_name as string };
  };
  /** Paths of the cluster's objects named `name`. */
  const objectsOf = (name: string) => lk.cluster.paths().filter((p) => p.endsWith(`/${name}`));
  return { ...lk, issue, objectsOf };
}

describe("the first reconcile after a restart", () => {
  it("deletes the objects of an answered request whose lease the core never stored, and keeps those with a lease", async () => {
    const lk = await setup();
    const kept = await lk.issue();
    const lost = await lk.issue();
    // What a crash between the handler's answer and the lease's write leaves: an issued intent, no lease.
    await lk.core.services.leases.forget(lost.leaseId);
    expect(lk.objectsOf(lost.name)).toHaveLength(2);

    await lk.restart("run-2");
    await expect.poll(() => lk.objectsOf(lost.name)).toEqual([]);
    expect(lk.objectsOf(kept.name)).toHaveLength(2);
    expect((await lk.request("POST", "sys/leases/lookup", { lease_id: kept.leaseId })).status).toBe(200);
    expect(await listIntents(lk.engineStorage())).toHaveLength(1);
    expect(lk.logger.records.some((r) => r.msg === "deleted orphaned kubernetes objects")).toBe(true);
  });

  it("deletes the objects of a request the previous run was still issuing, without the 120 s grace", async () => {
    const lk = await setup();
    const sa: ObjectRef = { kind: "ServiceAccount", name: "latchkey-jit-died0000", namespace: "team-a" };
    await lk.cluster.api.create(collectionPath(sa), { metadata: { name: sa.name, namespace: sa.namespace } });
    const pending: IntentRecord = { ref: "r1", role: "jit", target: "", objects: [sa], state: "pending", createdAt: NOW, expiresAt: NOW + 3600, writer: "run-1", mountPath: "kube/" };
    await putIntent(lk.engineStorage(), pending);

    await lk.restart("run-2");
    await expect.poll(() => lk.objectsOf(sa.name)).toEqual([]);
    expect(await getIntent(lk.engineStorage(), "r1")).toBeUndefined();
  });

  it("finishes a revocation the previous run had begun", async () => {
    const lk = await setup();
    const cred = await lk.issue();
    const storage = lk.engineStorage();
    const [ref] = await listIntents(storage);
    const intent = (await getIntent(storage, ref))!;
    // The revocation had deleted nothing yet when the process died.
    await putIntent(storage, { ...intent, state: "revoking" });

    await lk.restart("run-2");
    await expect.poll(() => lk.objectsOf(cred.name)).toEqual([]);
    expect(await getIntent(lk.engineStorage(), ref)).toBeUndefined();
    // The lease is still there; revoking it now is quick and finds nothing left.
    expect((await lk.revoke(cred.leaseId)).status).toBe(204);
  });

  it("leaves alone the intents of the running process while their requests run", async () => {
    const lk = await setup();
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const { createTokenRequest } = lk.cluster.api;
    lk.cluster.api.createTokenRequest = async (...args) => {
      await held;
      return createTokenRequest(...args);
    };
    const inFlight = lk.creds("jit");
    await expect.poll(async () => (await listIntents(lk.engineStorage())).length).toBe(1);
    // A seal and unseal within one process: its requests are still running.
    await lk.restart("run-1");
    await new Promise((resolve) => setTimeout(resolve, 100));
    release();
    const res = await inFlight;
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(lk.objectsOf(res.body.data.service_account_name)).toHaveLength(2);
  });

  it("refuses to answer with credentials whose intent another replica reaped meanwhile, and deletes them", async () => {
    const lk = await setup();
    const { createTokenRequest } = lk.cluster.api;
    lk.cluster.api.createTokenRequest = async (...args) => {
      const storage = lk.engineStorage();
      for (const ref of await listIntents(storage)) await storage.delete(`intent/${ref}`);
      return createTokenRequest(...args);
    };
    const res = await lk.creds("jit");
    expect(res.status).toBe(503);
    expect(res.body.errors).toEqual(["the credentials were cleaned up while they were being issued; try again"]);
    expect(lk.cluster.paths()).toEqual([]);
    expect((await lk.request("LIST", "sys/leases/lookup/kube/creds/jit")).body.data?.keys ?? []).toEqual([]);
  });
});

describe("the commit of an issue", () => {
  it("marks the intent issued in the lease's own transaction: a lease write that fails leaves neither, nor any object", async () => {
    const lk = await setup();
    const leases = lk.core.services.leases;
    const register = leases.register.bind(leases);
    // What a crash while the lease is written would leave: the intent as committed until then.
    const committed: (string | undefined)[] = [];
    // The lease is written into the transaction, then the commit fails, as a full disk would make it.
    leases.register = async (reg, within) => {
      await register(reg, within);
      for (const ref of await listIntents(lk.engineStorage())) committed.push((await getIntent(lk.engineStorage(), ref))?.state);
      throw new Error("disk full");
    };
    const res = await lk.creds("jit");
    expect(res.status).toBe(500);
    expect(committed).toEqual(["pending"]);
    expect(lk.cluster.paths()).toEqual([]);
    expect(await listIntents(lk.engineStorage())).toEqual([]);
    expect((await lk.request("LIST", "sys/leases/lookup/kube/creds/jit")).body.data?.keys ?? []).toEqual([]);

    leases.register = register;
    const cred = await lk.issue();
    const [ref] = await listIntents(lk.engineStorage());
    expect((await getIntent(lk.engineStorage(), ref))?.state).toBe("issued");
    expect((await lk.request("POST", "sys/leases/lookup", { lease_id: cred.leaseId })).status).toBe(200);
  });
});

describe("a mount's leases, as its engine sees them", () => {
  it("lists full ids under a path of the mount and looks up only the mount's own leases", async () => {
    const leases = createLeaseManager({
      storage: createView(createMemoryStore(), "sys/expire/"),
      revoker: async () => undefined,
      renewer: async () => ({ ttl: 60 }),
      logger: { debug() {}, info() {}, warn() {}, error() {} },
    });
    const mine = await leases.register({ mountPath: "kube/", path: "creds/jit", kind: "secret", ttl: 60, renewable: false });
    const other = await leases.register({ mountPath: "kube2/", path: "creds/jit", kind: "secret", ttl: 60, renewable: false });
    const view = mountLeases(leases, { path: "kube/" });
    expect(await view.list("creds/jit")).toEqual([mine.leaseId]);
    expect(await view.list("creds/other")).toEqual([]);
    expect((await view.lookup(mine.leaseId))?.leaseId).toBe(mine.leaseId);
    expect(await view.lookup(other.leaseId)).toBeUndefined();
  });
});
