/**
 * Namespaces as tenants of one latchkey server: the kubernetes auth method
 * and the kubernetes secrets engine against the test cluster, one templated
 * policy that gives every namespace its own subtree of every engine, and a
 * workload per namespace logged in with a real service-account token.
 *
 *   const tenancy = await mountTenancy(address, root);
 *   const a = await tenant(tenancy, "a");
 *   await a.call("GET", `secret/data/ns/${a.ns}/app`);
 */
import { expect } from "vitest";
import { clusterCaPem, reviewerAccount } from "./k8s-auth.js";
import { createServiceAccount, identityWith, kubeTestEnv, SA_REQUEST, tokenRequest, uniqueNamespace } from "./k8s.js";
import { api } from "./process.js";

const NS = "{{token.metadata.service_account_namespace}}";

/**
 * The README's per-namespace policy, extended to every mounted engine: KV v2
 * (data, metadata, subkeys and the version verbs), KV v1 at `kv1/`, and the
 * kubernetes secrets engine's role and credentials named after the namespace.
 * Cubbyhole, leases and the token's own endpoints come from `default`.
 */
export const TENANT_POLICY = `
path "secret/data/ns/${NS}/*" { capabilities = ["create", "read", "update", "patch", "delete", "list"] }
path "secret/metadata/ns/${NS}/*" { capabilities = ["read", "update", "delete", "list"] }
path "secret/subkeys/ns/${NS}/*" { capabilities = ["read"] }
path "secret/delete/ns/${NS}/*" { capabilities = ["update"] }
path "secret/undelete/ns/${NS}/*" { capabilities = ["update"] }
path "secret/destroy/ns/${NS}/*" { capabilities = ["update"] }
path "kv1/ns/${NS}/*" { capabilities = ["create", "read", "update", "delete", "list"] }
path "kube/roles/${NS}" { capabilities = ["read"] }
path "kube/creds/${NS}" { capabilities = ["update"] }
`;

export type Call = (
  method: string,
  path: string,
  body?: unknown,
  headers?: Record<string, string>,
) => ReturnType<typeof api>;

export interface Tenancy {
  address: string;
  root: string;
  /** The token of the service account latchkey reviews tokens with. */
  reviewerJwt: string;
  /** The token of the kubernetes secrets engine's target. */
  targetJwt: string;
  /** As root. */
  call: Call;
}

export interface Tenant {
  ns: string;
  /** The TokenRequest token the workload logged in with. */
  jwt: string;
  token: string;
  accessor: string;
  /** With this tenant's latchkey token. */
  call: Call;
}

const caller =
  (address: string, token: string): Call =>
  (method, path, body, headers) =>
    api(address, method, path, token, body, headers);

/** A request that must answer 2xx; resolves with its JSON. */
export async function ok(call: Call, method: string, path: string, body?: unknown, headers?: Record<string, string>) {
  const res = await call(method, path, body, headers);
  expect(res.status, `${method} ${path}: ${res.text}`).toBeLessThan(300);
  return res.json;
}

/**
 * Mounts KV v1 at `kv1/`, the kubernetes auth method at `auth/kubernetes/`
 * (role `app`: service account `app` of any namespace, policy `tenant`) and
 * the kubernetes secrets engine at `kube/`, all for the test cluster; a KV v2
 * at `secret/` is expected (dev mode mounts it).
 */
export async function mountTenancy(address: string, root: string): Promise<Tenancy> {
  const call = caller(address, root);
  const home = await uniqueNamespace({ "latchkey.test/suite": "tenants" });
  const reviewerJwt = await reviewerAccount(home, "reviewer", { delegator: true });
  const targetJwt = await identityWith(home, "latchkey-jit", SA_REQUEST);
  const { host } = kubeTestEnv();
  await ok(call, "POST", "sys/mounts/kv1", { type: "kv", options: { version: "1" } });
  await ok(call, "POST", "sys/auth/kubernetes", { type: "kubernetes" });
  await ok(call, "POST", "auth/kubernetes/config", { kubernetes_host: host, kubernetes_ca_cert: clusterCaPem(), token_reviewer_jwt: reviewerJwt });
  await ok(call, "POST", "auth/kubernetes/role/app", {
    bound_service_account_names: "app",
    bound_service_account_namespaces: "*",
    token_policies: "tenant",
    token_ttl: "1h",
  });
  await ok(call, "PUT", "sys/policies/acl/tenant", { policy: TENANT_POLICY });
  await ok(call, "POST", "sys/mounts/kube", { type: "kubernetes" });
  await ok(call, "POST", "kube/config", { kubernetes_host: host, kubernetes_ca_cert: clusterCaPem(), service_account_jwt: targetJwt });
  return { address, root, reviewerJwt, targetJwt, call };
}

/**
 * A namespace labelled `latchkey.test/tenant: <label>` with a workload `app`
 * logged in through the auth method, and a fixed-mode role of the secrets
 * engine named after the namespace that issues tokens for its service account
 * `workload` there (and in namespaces with the same label).
 */
export async function tenant(tenancy: Tenancy, label: string): Promise<Tenant> {
  const ns = await uniqueNamespace({ "latchkey.test/tenant": label });
  await createServiceAccount(ns, "app");
  await createServiceAccount(ns, "workload");
  await ok(tenancy.call, "POST", `kube/roles/${ns}`, {
    service_account_name: "workload",
    allowed_kubernetes_namespaces: [ns],
    // Also any namespace labelled for this tenant: a request for another namespace makes latchkey read it.
    allowed_kubernetes_namespace_selector: { matchLabels: { "latchkey.test/tenant": label } },
    token_default_ttl: "30m",
  });
  const jwt = (await tokenRequest(ns, "app")).token;
  const login = await api(tenancy.address, "POST", "auth/kubernetes/login", undefined, { role: "app", jwt });
  expect(login.status, login.text).toBe(200);
  expect(login.json.auth.metadata.service_account_namespace).toBe(ns);
  const { client_token: token, accessor } = login.json.auth as { client_token: string; accessor: string };
  return { ns, jwt, token, accessor, call: caller(tenancy.address, token) };
}
