import { describe, expect, it } from "vitest";
import { credsEngine, fakeCluster } from "./test-harness.js";
import { listIntents } from "./store.js";

const RBAC = "/apis/rbac.authorization.k8s.io/v1";
const FIXED = { service_account_name: "app", allowed_kubernetes_namespaces: ["team-a", "team-b"], prepared_credentials: 2 };

/** Waits until `ok` holds (the pool fills after the answer, in the background). */
async function until(ok: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const secrets = (lk: { cluster: ReturnType<typeof fakeCluster> }, ns = "team-a") =>
  lk.cluster.paths().filter((p) => p.startsWith(`/api/v1/namespaces/${ns}/secrets/`));

async function setup(now?: () => number) {
  const lk = await credsEngine(fakeCluster(), now ? { now } : {});
  const intents = async () => (await listIntents(lk.engineStorage())).length;
  return { ...lk, intents };
}

describe("prepared credentials", () => {
  it("makes the bound Secret ahead after the first issue, so that the next issue only asks for its token", async () => {
    const lk = await setup();
    await lk.role("app", FIXED);
    const first = await lk.creds("app", { kubernetes_namespace: "team-a" });
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    // The lease's Secret and two made ahead, each under an intent of its own.
    await until(() => secrets(lk).length === 3, "two prepared Secrets");
    expect(await lk.intents()).toBe(3);
    const prepared = secrets(lk).map((p) => lk.cluster.objects.get(p)!);
    for (const s of prepared) {
      expect(s.metadata.labels).toMatchObject({ "app.kubernetes.io/managed-by": "latchkey", "latchkey.io/lease": expect.any(String) });
      expect(s.metadata.annotations).toEqual({ "latchkey.io/mount-path": "kube/", "latchkey.io/role": "app" });
    }

    const callsBefore = lk.cluster.calls.length;
    const second = await lk.creds("app", { kubernetes_namespace: "team-a" });
    expect(second.status, JSON.stringify(second.body)).toBe(200);
    // Only the TokenRequest went out while the request ran; its token is bound to a Secret made ahead.
    expect(lk.cluster.calls[callsBefore]).toBe("POST /api/v1/namespaces/team-a/serviceaccounts/app/token");
    const bound = lk.cluster.tokens[1].spec.boundSecret!;
    const secret = prepared.find((s) => s.metadata.name === bound.name);
    expect(secret?.metadata.uid).toBe(bound.uid);
    expect(second.body.data.service_account_token).toBe("token-2-for-app");
    // The lease's Secret is the one its objects name, labelled with its lease's ref.
    await until(() => secrets(lk).length === 4, "the pool refilled");

    // Another namespace has its own pool: its first issue makes its own Secret.
    const other = await lk.creds("app", { kubernetes_namespace: "team-b" });
    expect(lk.cluster.tokens[2].spec.boundSecret?.name).toMatch(/^latchkey-app-/);
    expect(secrets(lk, "team-b")).toHaveLength(1);

    // Revoking deletes the leases' Secrets; the prepared ones go when the engine stops.
    for (const res of [first, second, other]) expect((await lk.revoke(res.body.lease_id)).status).toBe(204);
    await until(() => secrets(lk).length === 2 && secrets(lk, "team-b").length === 2, "only prepared Secrets left");
    await lk.core.seal();
    expect(lk.cluster.paths()).toEqual([]);
  });

  it("gives a revoked lease's token no life: the Secret it is bound to is the lease's, deleted on revoke", async () => {
    const lk = await setup();
    await lk.role("app", FIXED);
    await lk.creds("app", { kubernetes_namespace: "team-a" });
    await until(() => secrets(lk).length === 3, "two prepared Secrets");
    const res = await lk.creds("app", { kubernetes_namespace: "team-a" });
    const bound = lk.cluster.tokens[1].spec.boundSecret!;
    expect(lk.cluster.objects.has(`/api/v1/namespaces/team-a/secrets/${bound.name}`)).toBe(true);
    expect((await lk.revoke(res.body.lease_id)).status).toBe(204);
    expect(lk.cluster.objects.has(`/api/v1/namespaces/team-a/secrets/${bound.name}`)).toBe(false);
  });

  it("makes the ServiceAccount, its generated role and binding ahead in dynamic mode; the issue only asks for the token", async () => {
    const lk = await setup();
    await lk.role("pods", {
      generated_role_rules: [{ apiGroups: [""], resources: ["pods"], verbs: ["list"] }],
      allowed_kubernetes_namespaces: ["team-a"],
      prepared_credentials: 1,
    });
    await lk.creds("pods");
    const accounts = () => lk.cluster.paths().filter((p) => p.includes("/serviceaccounts/"));
    await until(() => lk.cluster.paths().length === 6, "a prepared ServiceAccount, Role and RoleBinding");
    const callsBefore = lk.cluster.calls.length;
    const res = await lk.creds("pods");
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const name = res.body.data.service_account_name as string;
    expect(accounts()).toContain(`/api/v1/namespaces/team-a/serviceaccounts/${name}`);
    expect(lk.cluster.calls[callsBefore]).toBe(`POST /api/v1/namespaces/team-a/serviceaccounts/${name}/token`);
    expect(lk.cluster.objects.get(`${RBAC}/namespaces/team-a/rolebindings/${name}`)?.subjects).toEqual([
      { kind: "ServiceAccount", name, namespace: "team-a" },
    ]);
    expect(lk.cluster.objects.get(`${RBAC}/namespaces/team-a/roles/${name}`)?.rules).toEqual([{ apiGroups: [""], resources: ["pods"], verbs: ["list"] }]);
    expect((await lk.revoke(res.body.lease_id)).status).toBe(204);
    expect(lk.cluster.paths().filter((p) => p.endsWith(`/${name}`))).toEqual([]);
  });

  it("keeps a binding kind of its own: a request for a ClusterRoleBinding does not get a prepared RoleBinding", async () => {
    const lk = await setup();
    await lk.role("viewer", { kubernetes_role_name: "view", kubernetes_role_type: "ClusterRole", allowed_kubernetes_namespaces: ["team-a"], prepared_credentials: 1 });
    await lk.creds("viewer");
    await until(() => lk.cluster.paths().length === 4, "a prepared ServiceAccount and RoleBinding");
    const wide = await lk.creds("viewer", { cluster_role_binding: true });
    const name = wide.body.data.service_account_name as string;
    expect(lk.cluster.objects.has(`${RBAC}/clusterrolebindings/${name}`)).toBe(true);
    expect(lk.cluster.objects.has(`${RBAC}/namespaces/team-a/rolebindings/${name}`)).toBe(false);
  });

  it("does not hand out what was made under a role written since, nor what has waited a minute, and deletes it", async () => {
    let now = Date.now();
    const lk = await setup(() => now);
    await lk.role("app", FIXED);
    await lk.creds("app", { kubernetes_namespace: "team-a" });
    await until(() => secrets(lk).length === 3, "two prepared Secrets");
    const stale = secrets(lk);

    await lk.role("app", { ...FIXED, extra_labels: { team: "a" } });
    const afterWrite = await lk.creds("app", { kubernetes_namespace: "team-a" });
    const boundAfterWrite = lk.cluster.tokens[1].spec.boundSecret!.name;
    expect(lk.cluster.objects.get(`/api/v1/namespaces/team-a/secrets/${boundAfterWrite}`)?.metadata.labels?.team).toBe("a");
    // Both made under the old role are gone; two under the new one take their place.
    await until(() => stale.filter((p) => lk.cluster.objects.has(p)).length === 1 && secrets(lk).length === 4, "the old role's prepared Secrets deleted");
    expect(await lk.intents()).toBe(4);

    const waited = new Set(secrets(lk));
    now += 61_000;
    const late = await lk.creds("app", { kubernetes_namespace: "team-a" });
    expect(late.status).toBe(200);
    const boundLate = lk.cluster.tokens[2].spec.boundSecret!.name;
    expect(waited.has(`/api/v1/namespaces/team-a/secrets/${boundLate}`)).toBe(false);
    // Both prepared a minute ago were deleted instead of used; the three leases' Secrets and two new ones remain.
    await until(() => secrets(lk).length === 5, "the stale prepared Secrets deleted");
    expect(await lk.intents()).toBe(5);
    for (const res of [afterWrite, late]) await lk.revoke(res.body.lease_id);
  });

  it("prepares nothing for a name template with {{display_name}}: those names belong to the caller", async () => {
    const lk = await setup();
    await lk.role("app", { ...FIXED, name_template: "lk-{{display_name}}-{{random}}" });
    await lk.creds("app", { kubernetes_namespace: "team-a" });
    await new Promise((r) => setTimeout(r, 50));
    expect(secrets(lk)).toHaveLength(1);
  });

  it("stops preparing for a while when the cluster refuses, and issues as without", async () => {
    const lk = await setup();
    await lk.role("app", FIXED);
    lk.cluster.fail("POST", /\/secrets$/, 403, -1);
    const first = await lk.creds("app", { kubernetes_namespace: "team-a" });
    expect(first.body.warnings).toHaveLength(1);
    await until(() => lk.logger.records.some((r) => r.msg?.includes("could not prepare kubernetes credentials")), "the failure logged");
    expect(secrets(lk)).toEqual([]);
    const posts = lk.cluster.calls.filter((c) => c.endsWith("/secrets")).length;
    await lk.creds("app", { kubernetes_namespace: "team-a" });
    await new Promise((r) => setTimeout(r, 50));
    // The second issue tried its own Secret; no preparation was tried again so soon.
    expect(lk.cluster.calls.filter((c) => c.endsWith("/secrets")).length).toBe(posts + 1);
    expect(await lk.intents()).toBe(0);
  });

  it("leaves nothing behind a process that died with credentials prepared: the next run deletes them", async () => {
    const lk = await setup();
    await lk.role("app", FIXED);
    const res = await lk.creds("app", { kubernetes_namespace: "team-a" });
    await until(() => secrets(lk).length === 3, "two prepared Secrets");
    // The cluster is down while this run stops, as if it had died: the prepared Secrets stay.
    lk.cluster.fail("DELETE", /\/secrets\//, "down", 2);
    await lk.restart("run-2");
    await until(() => secrets(lk).length === 1, "the dead run's prepared Secrets deleted");
    expect(await lk.intents()).toBe(1);
    expect((await lk.revoke(res.body.lease_id)).status).toBe(204);
    expect(lk.cluster.paths()).toEqual([]);
  });
});
