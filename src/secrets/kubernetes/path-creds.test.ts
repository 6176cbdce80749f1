import { describe, expect, it } from "vitest";
import { CERT, credsEngine, fakeCluster, HOST, REFERENCE_YAML, type FakeCluster } from "./test-harness.js";

const RBAC = "/apis/rbac.authorization.k8s.io/v1";

async function setup(cluster: FakeCluster = fakeCluster()) {
  const lk = await credsEngine(cluster);
  /** Succeeds only once no intent names the config: every lease's objects are gone. */
  const noIntentLeft = async () => {
    for (const r of (await lk.request("LIST", "kube/roles")).body.data?.keys ?? []) await lk.request("DELETE", `kube/roles/${r}`);
    return (await lk.request("DELETE", "kube/config")).status === 204;
  };
  return { ...lk, noIntentLeft };
}

describe("creds: fixed mode", () => {
  it("issues a token bound to a Secret of its own, which revocation deletes", async () => {
    const lk = await setup();
    await lk.role("app", { service_account_name: "app", allowed_kubernetes_namespaces: ["team-a"], token_default_ttl: "15m" });
    const res = await lk.creds("app");
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const [secretPath] = lk.cluster.paths();
    expect(secretPath).toMatch(/^\/api\/v1\/namespaces\/team-a\/secrets\/latchkey-app-[a-z0-9]{8}$/);
    const secret = lk.cluster.objects.get(secretPath)!;
    expect(lk.cluster.tokens).toEqual([
      {
        namespace: "team-a",
        serviceAccount: "app",
        spec: { audiences: [], expirationSeconds: 900, boundSecret: { name: secret.metadata.name, uid: secret.metadata.uid } },
      },
    ]);
    expect(secret.metadata.labels).toMatchObject({ "app.kubernetes.io/managed-by": "latchkey" });
    expect(Object.keys(secret.metadata.labels ?? {}).sort()).toEqual(["app.kubernetes.io/managed-by", "latchkey.io/lease", "latchkey.io/mount"]);
    expect(res.body.data).toEqual({
      service_account_name: "app",
      service_account_namespace: "team-a",
      service_account_token: "token-1-for-app",
      cluster_endpoint: HOST,
      cluster_ca_certificate: Buffer.from(CERT).toString("base64"),
      expiration: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    expect(res.body.lease_id).toMatch(/^kube\/creds\/app\//);
    expect([899, 900]).toContain(res.body.lease_duration);
    expect(res.body.renewable).toBe(false);
    expect(res.body.warnings).toBeNull();

    expect((await lk.revoke(res.body.lease_id)).status).toBe(204);
    expect(lk.cluster.paths()).toEqual([]);
    expect(await lk.noIntentLeft()).toBe(true);
  });

  it("issues an unbound token with a warning when the target may not create Secrets", async () => {
    const lk = await setup();
    lk.cluster.fail("POST", /\/secrets$/, 403);
    await lk.role("app", { service_account_name: "app", allowed_kubernetes_namespaces: ["team-a"] });
    const res = await lk.creds("app", { ttl: "20m", audiences: "vault,other" });
    expect(res.status).toBe(200);
    expect(res.body.warnings).toEqual([
      `the target may not create secrets in namespace "team-a", so this token is not bound to the lease: revoking the lease does not invalidate it before it expires`,
    ]);
    expect(lk.cluster.tokens[0].spec).toEqual({ audiences: ["vault", "other"], expirationSeconds: 1200, boundSecret: undefined });
    expect((await lk.revoke(res.body.lease_id)).status).toBe(204);
    expect(await lk.noIntentLeft()).toBe(true);
  });

  it("answers 400 for a service account that does not exist, and deletes the Secret it made", async () => {
    const lk = await setup();
    lk.cluster.fail("POST", /serviceaccounts\/app\/token$/, 404);
    await lk.role("app", { service_account_name: "app", allowed_kubernetes_namespaces: ["team-a"] });
    const res = await lk.creds("app");
    expect(res).toEqual({ status: 400, body: { errors: [`service account "app" does not exist in namespace "team-a"`] } });
    expect(lk.cluster.paths()).toEqual([]);
    expect(await lk.noIntentLeft()).toBe(true);
  });
});

describe("creds: dynamic mode", () => {
  it("binds a temporary service account to a predefined ClusterRole, all labelled, and revocation deletes both", async () => {
    const lk = await setup();
    await lk.role("viewer", {
      kubernetes_role_name: "view",
      kubernetes_role_type: "ClusterRole",
      allowed_kubernetes_namespaces: ["*"],
      extra_labels: { team: "a" },
    });
    const res = await lk.creds("viewer", { kubernetes_namespace: "team-b" });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const name = res.body.data.service_account_name as string;
    expect(name).toMatch(/^latchkey-viewer-[a-z0-9]{8}$/);
    expect(lk.cluster.paths()).toEqual([`/api/v1/namespaces/team-b/serviceaccounts/${name}`, `${RBAC}/namespaces/team-b/rolebindings/${name}`]);
    const binding = lk.cluster.objects.get(`${RBAC}/namespaces/team-b/rolebindings/${name}`)!;
    expect(binding.roleRef).toEqual({ apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "view" });
    expect(binding.subjects).toEqual([{ kind: "ServiceAccount", name, namespace: "team-b" }]);
    expect(binding.metadata.labels).toMatchObject({ team: "a", "app.kubernetes.io/managed-by": "latchkey" });
    expect(binding.metadata.annotations).toEqual({ "latchkey.io/mount-path": "kube/", "latchkey.io/role": "viewer" });
    expect(lk.cluster.tokens[0]).toMatchObject({ namespace: "team-b", serviceAccount: name });
    expect((await lk.revoke(res.body.lease_id)).status).toBe(204);
    expect(lk.cluster.paths()).toEqual([]);
  });

  it("generates a Role from rules, or a ClusterRole with a ClusterRoleBinding", async () => {
    const lk = await setup();
    const rules = [{ apiGroups: [""], resources: ["pods"], verbs: ["list"] }];
    await lk.role("pods", { generated_role_rules: rules, allowed_kubernetes_namespaces: ["team-a"] });
    await lk.role("all-pods", { generated_role_rules: rules, kubernetes_role_type: "ClusterRole", allowed_kubernetes_namespaces: ["team-a"] });
    const ns = await lk.creds("pods");
    const sa = ns.body.data.service_account_name as string;
    expect(lk.cluster.objects.get(`${RBAC}/namespaces/team-a/roles/${sa}`)?.rules).toEqual(rules);
    expect(lk.cluster.objects.get(`${RBAC}/namespaces/team-a/rolebindings/${sa}`)?.roleRef).toEqual({ apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: sa });
    const wide = await lk.creds("all-pods", { cluster_role_binding: true });
    const wideSa = wide.body.data.service_account_name as string;
    expect(lk.cluster.objects.get(`${RBAC}/clusterrolebindings/${wideSa}`)?.roleRef).toEqual({ apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: wideSa });
    expect(lk.cluster.objects.has(`${RBAC}/clusterroles/${wideSa}`)).toBe(true);
    await lk.revoke(ns.body.lease_id);
    await lk.revoke(wide.body.lease_id);
    expect(lk.cluster.paths()).toEqual([]);
    expect(await lk.noIntentLeft()).toBe(true);
  });

  it("makes the Role and RoleBinding of a role_binding_yaml under the lease's name, for the lease's account", async () => {
    const lk = await setup();
    await lk.role("yaml", { role_binding_yaml: REFERENCE_YAML, allowed_kubernetes_namespaces: ["team-a"] });
    const res = await lk.creds("yaml");
    const sa = res.body.data.service_account_name as string;
    expect(lk.cluster.objects.get(`${RBAC}/namespaces/team-a/roles/${sa}`)?.rules).toEqual([{ apiGroups: [""], resources: ["pods"], verbs: ["list"] }]);
    expect(lk.cluster.objects.get(`${RBAC}/namespaces/team-a/rolebindings/${sa}`)?.subjects).toEqual([{ kind: "ServiceAccount", name: sa, namespace: "team-a" }]);
    await lk.role("wide", {
      role_binding_yaml: `kind: ClusterRoleBinding\nroleRef: {kind: ClusterRole, name: view}\n`,
      allowed_kubernetes_namespaces: ["team-a"],
    });
    const wide = await lk.creds("wide");
    expect(lk.cluster.objects.get(`${RBAC}/clusterrolebindings/${wide.body.data.service_account_name}`)?.roleRef).toEqual({
      apiGroup: "rbac.authorization.k8s.io",
      kind: "ClusterRole",
      name: "view",
    });
  });

  it("creates the account, the role and the binding at once, before the token", async () => {
    const lk = await setup();
    await lk.role("pods", { generated_role_rules: [{ apiGroups: [""], resources: ["pods"], verbs: ["list"] }], allowed_kubernetes_namespaces: ["team-a"] });
    await lk.creds("pods");
    expect(lk.cluster.calls.slice(0, 3).map((c) => c.replace(/\/[^/]+$/, ""))).toEqual([
      "POST /api/v1/namespaces/team-a",
      "POST /apis/rbac.authorization.k8s.io/v1/namespaces/team-a",
      "POST /apis/rbac.authorization.k8s.io/v1/namespaces/team-a",
    ]);
    expect(lk.cluster.calls[3]).toMatch(/\/token$/);
  });

  it("retries a binding refused before its generated role existed", async () => {
    const lk = await setup();
    lk.cluster.fail("POST", /rolebindings$/, 403, 1);
    await lk.role("pods", { generated_role_rules: [{ apiGroups: [""], resources: ["pods"], verbs: ["list"] }], allowed_kubernetes_namespaces: ["team-a"] });
    const res = await lk.creds("pods");
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(lk.cluster.paths()).toHaveLength(3);
  });

  it("answers a refused binding with 502 naming verb, resource and namespace, and leaves nothing behind", async () => {
    const lk = await setup();
    lk.cluster.fail("POST", /rolebindings$/, 403);
    await lk.role("viewer", { kubernetes_role_name: "view", kubernetes_role_type: "ClusterRole", allowed_kubernetes_namespaces: ["team-a"] });
    const res = await lk.creds("viewer");
    expect(res).toEqual({
      status: 502,
      body: {
        errors: [
          `kubernetes config is not allowed to create rolebindings.rbac.authorization.k8s.io in namespace "team-a": it needs the bind verb on the role, or every permission the role grants`,
        ],
      },
    });
    expect(lk.cluster.paths()).toEqual([]);
    expect(lk.logger.records.some((r) => r.level === "error")).toBe(true);
    expect(await lk.noIntentLeft()).toBe(true);
  });

  it("keeps the intent of a failed issue whose rollback failed, and deletes its objects once the cluster answers, before the periodic run", async () => {
    const lk = await setup();
    lk.cluster.fail("POST", /rolebindings$/, 403);
    lk.cluster.fail("DELETE", /serviceaccounts/, "down", 2);
    await lk.role("viewer", { kubernetes_role_name: "view", allowed_kubernetes_namespaces: ["team-a"] });
    expect((await lk.creds("viewer")).status).toBe(502);
    expect(lk.cluster.paths()).toHaveLength(1);
    expect(lk.logger.records.some((r) => r.msg?.includes("the reconciler will retry"))).toBe(true);
    // Chased with backoff (1 s, then 2 s): the first retry still fails, the second deletes the ServiceAccount.
    const deadline = Date.now() + 20_000;
    while (lk.cluster.paths().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(lk.cluster.paths()).toEqual([]);
    expect(await lk.noIntentLeft()).toBe(true);
  }, 30_000);

  it.each([
    ["down", 503, `kubernetes config: the API server is unreachable`],
    ["timeout", 504, `kubernetes config: the API server did not answer in time`],
    [401, 502, `kubernetes config: the API server rejected the target's credentials (401 Unauthorized)`],
    [429, 503, `kubernetes config: the API server kept throttling (429) after retries`],
  ] as const)("answers a cluster that fails with %s as %i", async (failure, status, message) => {
    const lk = await setup();
    lk.cluster.fail("POST", /serviceaccounts$/, failure);
    await lk.role("viewer", { kubernetes_role_name: "view", allowed_kubernetes_namespaces: ["team-a"] });
    expect(await lk.creds("viewer")).toEqual({ status, body: { errors: [message] } });
    expect(lk.cluster.paths()).toEqual([]);
  });

  it("answers 400 for a namespace that does not exist", async () => {
    const lk = await setup();
    lk.cluster.fail("POST", /namespaces\/gone\//, 404);
    await lk.role("viewer", { kubernetes_role_name: "view", allowed_kubernetes_namespaces: ["*"] });
    expect(await lk.creds("viewer", { kubernetes_namespace: "gone" })).toEqual({ status: 400, body: { errors: [`namespace "gone" does not exist`] } });
  });

  it("keeps the lease while deletion fails, and revokes once the cluster answers", async () => {
    const lk = await setup();
    await lk.role("viewer", { kubernetes_role_name: "view", allowed_kubernetes_namespaces: ["team-a"] });
    const res = await lk.creds("viewer");
    lk.cluster.fail("DELETE", /serviceaccounts/, "down");
    const failed = await lk.revoke(res.body.lease_id);
    expect(failed.status).toBeGreaterThanOrEqual(500);
    expect((await lk.request("POST", "sys/leases/lookup", { lease_id: res.body.lease_id })).status).toBe(200);
    lk.cluster.heal();
    expect((await lk.revoke(res.body.lease_id)).status).toBe(204);
    expect(lk.cluster.paths()).toEqual([]);
  });

  it("counts objects deleted by someone else as revoked", async () => {
    const lk = await setup();
    await lk.role("viewer", { kubernetes_role_name: "view", allowed_kubernetes_namespaces: ["team-a"] });
    const res = await lk.creds("viewer");
    lk.cluster.objects.clear();
    expect((await lk.revoke(res.body.lease_id)).status).toBe(204);
  });
});

describe("creds: requests", () => {
  it.each([
    [{}, `field "kubernetes_namespace" is required`],
    [{ kubernetes_namespace: "team-c" }, `namespace "team-c" is not allowed by role "viewer"`],
    [{ kubernetes_namespace: "Team_A" }, `field "kubernetes_namespace": "Team_A" is not a namespace name`],
    [{ kubernetes_namespace: "team-a", cluster_role_binding: true }, `"cluster_role_binding" needs a role whose "kubernetes_role_type" is ClusterRole`],
  ])("refuses %j with 400", async (body, message) => {
    const lk = await setup();
    await lk.role("viewer", { kubernetes_role_name: "view", allowed_kubernetes_namespaces: ["team-a", "team-b"] });
    expect(await lk.creds("viewer", body)).toEqual({ status: 400, body: { errors: [message] } });
    expect(lk.cluster.calls).toEqual([]);
  });

  it("refuses a role that does not exist and a cluster-wide binding in fixed mode", async () => {
    const lk = await setup();
    expect((await lk.creds("nope")).body).toEqual({ errors: [`role "nope" does not exist`] });
    await lk.role("app", { service_account_name: "app", allowed_kubernetes_namespaces: ["team-a"] });
    expect((await lk.creds("app", { cluster_role_binding: true })).body).toEqual({ errors: [`"cluster_role_binding" applies only to dynamic roles`] });
  });

  it("caps the TTL at the role's maximum and asks Kubernetes for at least ten minutes", async () => {
    const lk = await setup();
    await lk.role("viewer", { kubernetes_role_name: "view", allowed_kubernetes_namespaces: ["team-a"], token_default_ttl: "5m", token_max_ttl: "1h" });
    const short = await lk.creds("viewer");
    // The envelope counts down whole seconds from the lease's expiry.
    expect([299, 300]).toContain(short.body.lease_duration);
    expect(lk.cluster.tokens[0].spec.expirationSeconds).toBe(600);
    const long = await lk.creds("viewer", { ttl: "3h" });
    expect([3599, 3600]).toContain(long.body.lease_duration);
    expect(Date.parse(long.body.data.expiration) - Date.now()).toBeLessThanOrEqual(3600_000);
  });

  it("allows a namespace whose labels match the role's selector, reading it only when it is not listed", async () => {
    const lk = await setup();
    lk.cluster.namespaces.set("team-b", { team: "b" });
    lk.cluster.namespaces.set("team-c", { team: "c" });
    await lk.role("viewer", {
      kubernetes_role_name: "view",
      allowed_kubernetes_namespaces: ["team-a"],
      allowed_kubernetes_namespace_selector: "matchLabels:\n  team: b\n",
    });
    expect((await lk.creds("viewer", { kubernetes_namespace: "team-a" })).status).toBe(200);
    expect(lk.cluster.calls.filter((c) => c.startsWith("GET"))).toEqual([]);
    expect((await lk.creds("viewer", { kubernetes_namespace: "team-b" })).status).toBe(200);
    expect(await lk.creds("viewer", { kubernetes_namespace: "team-c" })).toEqual({ status: 400, body: { errors: [`namespace "team-c" is not allowed by role "viewer"`] } });
    // A namespace that does not exist is refused the same way: the answer does not say which it is.
    expect(await lk.creds("viewer", { kubernetes_namespace: "team-d" })).toEqual({ status: 400, body: { errors: [`namespace "team-d" is not allowed by role "viewer"`] } });
    expect(await lk.creds("viewer")).toEqual({ status: 400, body: { errors: [`field "kubernetes_namespace" is required`] } });
    lk.cluster.fail("GET", /namespaces\/team-b$/, 403);
    expect(await lk.creds("viewer", { kubernetes_namespace: "team-b" })).toEqual({
      status: 502,
      body: { errors: [`kubernetes config is not allowed to get namespaces (cluster-wide)`] },
    });
  });

  it("uses the role's target", async () => {
    const lk = await setup();
    await lk.request("POST", "kube/targets/prod", { kubernetes_host: "https://prod.test:6443", service_account_jwt: "p" });
    await lk.role("viewer", { kubernetes_role_name: "view", allowed_kubernetes_namespaces: ["team-a"], target: "prod" });
    const res = await lk.creds("viewer");
    expect(res.body.data.cluster_endpoint).toBe("https://prod.test:6443");
    expect(res.body.data.cluster_ca_certificate).toBe("");
    expect(lk.targets.at(-1)?.name).toBe("prod");
  });

  it("names objects by the role's template", async () => {
    const lk = await setup();
    await lk.role("viewer", { kubernetes_role_name: "view", allowed_kubernetes_namespaces: ["team-a"], name_template: "ci-{{role}}-{{random}}" });
    expect((await lk.creds("viewer")).body.data.service_account_name).toMatch(/^ci-viewer-[a-z0-9]{8}$/);
  });
});
