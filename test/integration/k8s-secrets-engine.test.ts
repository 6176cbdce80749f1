/**
 * The kubernetes secrets engine against the real kube-apiserver: targets
 * holding the permissions reference 001 documents, fixed-mode tokens that
 * stop authenticating once their lease is revoked, dynamic service accounts
 * whose permissions are exactly their role's, and revocation and expiry that
 * leave no latchkey-labelled object behind.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  adminClient,
  canI,
  cleanup,
  createClusterRole,
  createServiceAccount,
  eventually,
  identityWith,
  kubeTestEnv,
  MANAGED_BY_LATCHKEY,
  objectsLabelled,
  reviewToken,
  SA_REQUEST,
  TOKEN_REQUEST,
  secretsEngine,
  type SecretsEngine,
  uniqueName,
  uniqueNamespace,
} from "../helpers/k8s.js";



/** The lease label of the objects behind a dynamic credential, read from its ServiceAccount. */
async function leaseSelector(namespace: string, serviceAccount: string): Promise<string> {
  const sa = await adminClient().get<{ metadata: { labels?: Record<string, string> } }>(
    `/api/v1/namespaces/${namespace}/serviceaccounts/${serviceAccount}`,
  );
  const lease = sa.metadata.labels?.["latchkey.io/lease"];
  expect(lease, "the ServiceAccount carries its lease label").toBeTruthy();
  return `${MANAGED_BY_LATCHKEY},latchkey.io/lease=${lease}`;
}

const authenticated = async (token: string) => (await reviewToken(token)).authenticated;

let lk: SecretsEngine;
let home: string;
let nsA: string;
let nsB: string;

beforeAll(async () => {
  home = await uniqueNamespace();
  nsA = await uniqueNamespace();
  nsB = await uniqueNamespace();
  lk = await secretsEngine();
  await lk.target("", { service_account_jwt: await identityWith(home, "latchkey-jit", SA_REQUEST) });
  await lk.target("token-only", { service_account_jwt: await identityWith(home, "token-request-sa", TOKEN_REQUEST) });
  await lk.target("nothing", {
    service_account_jwt: await identityWith(home, "nobody", [{ apiGroups: [""], resources: ["configmaps"], verbs: ["get"] }]),
  });
});

afterAll(async () => {
  await lk?.close();
  await cleanup();
});

describe("fixed mode", () => {
  it("issues a token that authenticates as the service account and is refused once its lease is revoked", async () => {
    await createServiceAccount(nsA, "app");
    await lk.ok("POST", "kube/roles/app", { service_account_name: "app", allowed_kubernetes_namespaces: [nsA], token_default_ttl: "15m" });
    const creds = await lk.ok("POST", "kube/creds/app", {});
    expect(creds.warnings).toBeNull();
    expect(creds.data).toMatchObject({ service_account_name: "app", service_account_namespace: nsA, cluster_endpoint: kubeTestEnv().host });
    const token = creds.data.service_account_token as string;
    const review = await reviewToken(token);
    expect(review.authenticated).toBe(true);
    expect(review.user?.username).toBe(`system:serviceaccount:${nsA}:app`);
    const bound = await objectsLabelled(MANAGED_BY_LATCHKEY);
    expect(bound.filter((o) => o.startsWith(`secrets/${nsA}/`))).toHaveLength(1);

    await lk.revoke(creds.lease_id);
    expect((await objectsLabelled(MANAGED_BY_LATCHKEY)).filter((o) => o.startsWith(`secrets/${nsA}/`))).toEqual([]);
    // The API server caches successful token authentications for about ten seconds.
    await eventually("the revoked token is refused by TokenReview", async () => !(await authenticated(token)));
  });

  it("issues an unbound token with a warning through a target that may not create Secrets", async () => {
    await createServiceAccount(nsB, "app");
    await lk.ok("POST", "kube/roles/app-unbound", { service_account_name: "app", allowed_kubernetes_namespaces: [nsB], target: "token-only" });
    const creds = await lk.ok("POST", "kube/creds/app-unbound", {});
    expect(creds.warnings).toEqual([
      `the target may not create secrets in namespace "${nsB}", so this token is not bound to the lease: revoking the lease does not invalidate it before it expires`,
    ]);
    expect(await authenticated(creds.data.service_account_token)).toBe(true);
    await lk.revoke(creds.lease_id);
  });

  it("answers 400 for a service account that does not exist", async () => {
    await lk.ok("POST", "kube/roles/ghost", { service_account_name: "ghost", allowed_kubernetes_namespaces: [nsA] });
    const res = await lk.request("POST", "kube/creds/ghost", {});
    expect(res.status).toBe(400);
    expect(res.json).toEqual({ errors: [`service account "ghost" does not exist in namespace "${nsA}"`] });
    expect((await objectsLabelled(MANAGED_BY_LATCHKEY)).filter((o) => o.includes(`/${nsA}/latchkey-ghost-`))).toEqual([]);
  });
});

describe("prepared credentials", () => {
  it("binds fixed-mode tokens to Secrets made ahead, revocable as any; dynamic ones get exactly their role; a stop deletes what was prepared", async () => {
    const ns = await uniqueNamespace();
    const prep = await secretsEngine();
    try {
      await prep.target("", { service_account_jwt: await identityWith(ns, "latchkey-jit", SA_REQUEST) });
      await createServiceAccount(ns, "app");
      await prep.ok("POST", "kube/roles/app", { service_account_name: "app", allowed_kubernetes_namespaces: [ns], token_default_ttl: "15m", prepared_credentials: 2 });
      const reader = uniqueName("lk-prep-reader");
      await createClusterRole(reader, [{ apiGroups: [""], resources: ["pods"], verbs: ["list"] }]);
      await prep.ok("POST", "kube/roles/reader", { kubernetes_role_name: reader, kubernetes_role_type: "ClusterRole", allowed_kubernetes_namespaces: [ns], prepared_credentials: 1 });
      const inNs = async (kind: string) => (await objectsLabelled(MANAGED_BY_LATCHKEY)).filter((o) => o.startsWith(`${kind}/${ns}/`));

      const first = await prep.ok("POST", "kube/creds/app", {});
      await eventually("two Secrets prepared besides the lease's", async () => (await inNs("secrets")).length === 3, 5_000);
      const ahead = new Set(await inNs("secrets"));
      const creds = await prep.ok("POST", "kube/creds/app", {});
      const token = creds.data.service_account_token as string;
      expect(await authenticated(token)).toBe(true);
      await eventually("the pool refilled", async () => (await inNs("secrets")).length === 4, 5_000);
      const beforeRevoke = await inNs("secrets");
      await prep.revoke(creds.lease_id);
      const afterRevoke = await inNs("secrets");
      const vanished = beforeRevoke.filter((o) => !afterRevoke.includes(o));
      // The second lease's Secret, deleted by its revocation, is one that existed before it was asked for.
      expect(vanished).toHaveLength(1);
      expect(ahead.has(vanished[0])).toBe(true);
      await eventually("the revoked token is refused by TokenReview", async () => !(await authenticated(token)));
      expect(await authenticated(first.data.service_account_token)).toBe(true);

      const dynFirst = await prep.ok("POST", "kube/creds/reader", {});
      await eventually("a ServiceAccount prepared", async () => (await inNs("serviceaccounts")).length === 2, 5_000);
      const dyn = await prep.ok("POST", "kube/creds/reader", {});
      const dynToken = dyn.data.service_account_token as string;
      await eventually("list pods is allowed", () => canI(dynToken, { verb: "list", resource: "pods", namespace: ns }), 5_000);
      expect(await canI(dynToken, { verb: "get", resource: "pods", namespace: ns })).toBe(false);
      expect(await canI(dynToken, { verb: "list", resource: "pods" })).toBe(false);

      for (const res of [first, dynFirst, dyn]) await prep.revoke(res.lease_id);
    } finally {
      await prep.close();
    }
    expect(await objectsLabelled(MANAGED_BY_LATCHKEY).then((all) => all.filter((o) => o.includes(`/${ns}/`)))).toEqual([]);
  });
});

describe("dynamic mode", () => {
  const may = (token: string, verb: string, resource: string, namespace?: string) => canI(token, { verb, resource, namespace });

  it("binds a temporary service account to a predefined ClusterRole: its permissions, in its namespace only", async () => {
    const reader = uniqueName("lk-pod-reader");
    await createClusterRole(reader, [{ apiGroups: [""], resources: ["pods"], verbs: ["get", "list"] }]);
    await lk.ok("POST", "kube/roles/pod-reader", { kubernetes_role_name: reader, kubernetes_role_type: "ClusterRole", allowed_kubernetes_namespaces: [nsA] });
    const creds = await lk.ok("POST", "kube/creds/pod-reader", { kubernetes_namespace: nsA });
    const token = creds.data.service_account_token as string;
    expect(creds.data.service_account_name).toMatch(/^latchkey-pod-reader-[a-z0-9]{8}$/);
    // The RBAC authorizer sees new bindings through its informer, a moment after they are created.
    await eventually("list pods is allowed in the allowed namespace", () => may(token, "list", "pods", nsA), 5_000);
    expect(await may(token, "get", "pods", nsA)).toBe(true);
    expect(await may(token, "create", "pods", nsA)).toBe(false);
    expect(await may(token, "list", "secrets", nsA)).toBe(false);
    expect(await may(token, "list", "pods", nsB)).toBe(false);
    expect(await may(token, "list", "pods")).toBe(false);

    const selector = await leaseSelector(nsA, creds.data.service_account_name);
    expect((await objectsLabelled(selector)).sort()).toEqual([
      `rolebindings/${nsA}/${creds.data.service_account_name}`,
      `serviceaccounts/${nsA}/${creds.data.service_account_name}`,
    ]);
    await lk.revoke(creds.lease_id);
    expect(await objectsLabelled(selector)).toEqual([]);
    await eventually("the revoked token is refused", async () => !(await authenticated(token)));
  });

  it("generates a Role from rules in each allowed namespace, refused in the others", async () => {
    const rules = `rules:\n- apiGroups: [""]\n  resources: ["configmaps"]\n  verbs: ["get", "list"]\n`;
    await lk.ok("POST", "kube/roles/cm-reader", { generated_role_rules: rules, allowed_kubernetes_namespaces: [nsA, nsB] });
    const issued = [];
    for (const [ns, other] of [
      [nsA, nsB],
      [nsB, nsA],
    ]) {
      const creds = await lk.ok("POST", "kube/creds/cm-reader", { kubernetes_namespace: ns });
      const token = creds.data.service_account_token as string;
      await eventually(`list configmaps is allowed in ${ns}`, () => may(token, "list", "configmaps", ns), 5_000);
      expect(await may(token, "get", "configmaps", ns)).toBe(true);
      expect(await may(token, "delete", "configmaps", ns)).toBe(false);
      expect(await may(token, "list", "pods", ns)).toBe(false);
      expect(await may(token, "list", "configmaps", other)).toBe(false);
      const selector = await leaseSelector(ns, creds.data.service_account_name);
      expect(await objectsLabelled(selector)).toHaveLength(3);
      issued.push({ creds, selector });
    }
    const refused = await lk.request("POST", "kube/creds/cm-reader", { kubernetes_namespace: home });
    expect(refused.status).toBe(400);
    expect(refused.json).toEqual({ errors: [`namespace "${home}" is not allowed by role "cm-reader"`] });
    for (const { creds, selector } of issued) {
      await lk.revoke(creds.lease_id);
      expect(await objectsLabelled(selector)).toEqual([]);
    }
  });

  it("generates a ClusterRole with a ClusterRoleBinding when asked for cluster_role_binding", async () => {
    await lk.ok("POST", "kube/roles/ns-lister", {
      generated_role_rules: [{ apiGroups: [""], resources: ["namespaces"], verbs: ["list"] }],
      kubernetes_role_type: "ClusterRole",
      allowed_kubernetes_namespaces: [nsA],
    });
    const creds = await lk.ok("POST", "kube/creds/ns-lister", { cluster_role_binding: true });
    const token = creds.data.service_account_token as string;
    await eventually("list namespaces is allowed cluster-wide", () => may(token, "list", "namespaces"), 5_000);
    expect(await may(token, "delete", "namespaces")).toBe(false);
    const selector = await leaseSelector(nsA, creds.data.service_account_name);
    expect((await objectsLabelled(selector)).map((o) => o.split("/")[0]).sort()).toEqual(["clusterrolebindings", "clusterroles", "serviceaccounts"]);
    await lk.revoke(creds.lease_id);
    expect(await objectsLabelled(selector)).toEqual([]);
  });

  it("allows the namespaces whose labels match the role's selector", async () => {
    const selected = await uniqueNamespace({ "latchkey.test/selected": "yes" });
    await lk.ok("POST", "kube/roles/selected", {
      kubernetes_role_name: "view",
      kubernetes_role_type: "ClusterRole",
      allowed_kubernetes_namespace_selector: { matchLabels: { "latchkey.test/selected": "yes" } },
    });
    const creds = await lk.ok("POST", "kube/creds/selected", { kubernetes_namespace: selected });
    expect(creds.data.service_account_namespace).toBe(selected);
    await lk.revoke(creds.lease_id);
    const refused = await lk.request("POST", "kube/creds/selected", { kubernetes_namespace: nsA });
    expect(refused.json).toEqual({ errors: [`namespace "${nsA}" is not allowed by role "selected"`] });
  });

  it("deletes everything when the lease expires", async () => {
    await lk.ok("POST", "kube/roles/short", { kubernetes_role_name: "view", kubernetes_role_type: "ClusterRole", allowed_kubernetes_namespaces: [nsB] });
    const creds = await lk.ok("POST", "kube/creds/short", { ttl: "2s" });
    const selector = await leaseSelector(nsB, creds.data.service_account_name);
    expect(await objectsLabelled(selector)).toHaveLength(2);
    await eventually("the expired lease's objects are gone", async () => (await objectsLabelled(selector)).length === 0);
  });

  it("answers 502 naming what a target may not do, and leaves nothing behind", async () => {
    await lk.ok("POST", "kube/roles/no-rbac", { kubernetes_role_name: "view", kubernetes_role_type: "ClusterRole", allowed_kubernetes_namespaces: [nsB], target: "nothing" });
    const res = await lk.request("POST", "kube/creds/no-rbac", {});
    expect(res.status).toBe(502);
    expect(res.json).toEqual({ errors: [`kubernetes target "nothing" is not allowed to create serviceaccounts in namespace "${nsB}"`] });
    expect((await objectsLabelled(MANAGED_BY_LATCHKEY)).filter((o) => o.includes(`/${nsB}/latchkey-no-rbac-`))).toEqual([]);
  });
});
