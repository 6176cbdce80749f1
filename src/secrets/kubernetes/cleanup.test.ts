import { describe, expect, it } from "vitest";
import { recordingLogger } from "../../auth/kubernetes/test-harness.js";
import { createMemoryStore } from "../../storage/memory.js";
import { createView } from "../../storage/view.js";
import { createKubernetesSecretsBackend } from "./backend.js";
import { EXPIRED_GRACE_SECONDS, PENDING_GRACE_SECONDS, reconcileIntents } from "./cleanup.js";
import { collectionPath } from "./objects.js";
import { getIntent, putIntent, putTarget } from "./store.js";
import { fakeCluster, HOST } from "./test-harness.js";
import type { IntentRecord, ObjectRef, TargetClients } from "./types.js";

const T = 1_800_000_000;
const SA: ObjectRef = { kind: "ServiceAccount", name: "latchkey-app-abcd1234", namespace: "team-a" };
const BINDING: ObjectRef = { kind: "RoleBinding", name: "latchkey-app-abcd1234", namespace: "team-a" };

async function setup() {
  const cluster = fakeCluster();
  const storage = createView(createMemoryStore(), "logical/kube/");
  await putTarget(storage, "", { kubernetesHost: HOST, kubernetesCaCert: "", credential: "service_account_jwt", serviceAccountJwt: "t", clientCert: "", clientKey: "" });
  const clients: TargetClients = { clientFor: async () => cluster.api };
  const logger = recordingLogger();
  /** An intent and the objects it names, as a crash would leave them. */
  const orphan = async (ref: string, fields: Partial<IntentRecord>) => {
    for (const o of [SA, BINDING]) await cluster.api.create(collectionPath(o), { metadata: { name: `${o.name}-${ref}`, namespace: o.namespace } });
    const objects = [SA, BINDING].map((o) => ({ ...o, name: `${o.name}-${ref}` }));
    await putIntent(storage, { ref, role: "app", target: "", objects, state: "pending", createdAt: T, expiresAt: T + 3600, ...fields });
  };
  return { cluster, storage, deps: { clients, logger }, orphan, logger };
}

describe("reconciling intents", () => {
  it("deletes the objects of a request that died mid-issue once the grace period has passed", async () => {
    const { cluster, storage, deps, orphan } = await setup();
    await orphan("a", { state: "pending" });
    expect(await reconcileIntents(storage, deps, T + PENDING_GRACE_SECONDS)).toBe(0);
    expect(cluster.paths()).toHaveLength(2);
    expect(await reconcileIntents(storage, deps, T + PENDING_GRACE_SECONDS + 1)).toBe(1);
    expect(cluster.paths()).toEqual([]);
    expect(await getIntent(storage, "a")).toBeUndefined();
  });

  it("leaves issued credentials alone until their lease has ended, then deletes what the lease manager missed", async () => {
    const { cluster, storage, deps, orphan } = await setup();
    await orphan("b", { state: "issued" });
    expect(await reconcileIntents(storage, deps, T + 3600 + EXPIRED_GRACE_SECONDS)).toBe(0);
    expect(cluster.paths()).toHaveLength(2);
    expect(await reconcileIntents(storage, deps, T + 3600 + EXPIRED_GRACE_SECONDS + 1)).toBe(1);
    expect(cluster.paths()).toEqual([]);
  });

  it("deletes the objects of an abandoned issue at once, without waiting for the grace period", async () => {
    const { cluster, storage, deps, orphan } = await setup();
    await orphan("f", { state: "abandoned" });
    expect(await reconcileIntents(storage, deps, T + 1)).toBe(1);
    expect(cluster.paths()).toEqual([]);
    expect(await getIntent(storage, "f")).toBeUndefined();
  });

  it("keeps an intent whose objects cannot be deleted yet, and retries on the next run", async () => {
    const { cluster, storage, deps, orphan, logger } = await setup();
    await orphan("c", { state: "pending" });
    cluster.fail("DELETE", /serviceaccounts/, "down", 1);
    expect(await reconcileIntents(storage, deps, T + 1000)).toBe(0);
    expect(await getIntent(storage, "c")).toBeDefined();
    expect(logger.records.some((r) => r.level === "warn" && r.msg?.includes("will retry"))).toBe(true);
    expect(await reconcileIntents(storage, deps, T + 1000)).toBe(1);
    expect(cluster.paths()).toEqual([]);
  });

  it("runs when the engine starts", async () => {
    const { cluster, storage, deps, orphan } = await setup();
    await orphan("d", { state: "pending" });
    const backend = createKubernetesSecretsBackend(
      { storage, mountPath: "kube/", config: { defaultLeaseTtl: 0, maxLeaseTtl: 0, options: {} }, logger: deps.logger },
      { clients: deps.clients, now: () => (T + 1000) * 1000, reconcileIntervalMs: 0 },
    );
    await backend.start?.({ storage, mountPath: "kube/", config: { defaultLeaseTtl: 0, maxLeaseTtl: 0, options: {} }, logger: deps.logger });
    await expect.poll(() => cluster.paths()).toEqual([]);
    await backend.stop?.();
  });

  it("is left to the leader: a replica that does not lead deletes nothing until it leads", async () => {
    const { cluster, storage, deps, orphan } = await setup();
    await orphan("e", { state: "pending" });
    let leader = false;
    const ctx = {
      storage,
      mountPath: "kube/",
      config: { defaultLeaseTtl: 0, maxLeaseTtl: 0, options: {} },
      logger: deps.logger,
      isLeader: () => leader,
    };
    const backend = createKubernetesSecretsBackend(ctx, { clients: deps.clients, now: () => (T + 1000) * 1000, reconcileIntervalMs: 20 });
    await backend.start?.(ctx);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(cluster.paths()).toHaveLength(2);
    leader = true;
    await expect.poll(() => cluster.paths()).toEqual([]);
    await backend.stop?.();
  });
});
