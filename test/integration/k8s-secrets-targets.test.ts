/**
 * The kubernetes secrets engine's other ways of reaching a cluster, against
 * the real kube-apiserver: a client-certificate target, the gateway's own
 * service-account token file (re-read on every call), rotation of a target's
 * token through TokenRequest, and reference 001's Role + RoleBinding YAML.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REFERENCE_YAML } from "../../src/secrets/kubernetes/test-harness.js";
import { clientCertificate } from "../helpers/k8s-auth.js";
import {
  canI,
  cleanup,
  createClusterRole,
  createClusterRoleBinding,
  createServiceAccount,
  eventually,
  identityWith,
  kubeTestEnv,
  MANAGED_BY_LATCHKEY,
  objectsLabelled,
  reviewToken,
  SA_REQUEST,
  secretsEngine,
  tokenRequest,
  uniqueName,
  uniqueNamespace,
  type SecretsEngine,
} from "../helpers/k8s.js";

const dir = mkdtempSync(join(tmpdir(), "lk-k8s-secrets-"));
const tokenFile = join(dir, "token");
let home: string;
let ns: string;
let lk: SecretsEngine;
/** A ClusterRole that may list pods. */
let reader: string;

beforeAll(async () => {
  home = await uniqueNamespace();
  ns = await uniqueNamespace();
  lk = await secretsEngine({ service_account_token_path: tokenFile, service_account_ca_path: join(dir, "ca.crt") });
  await createServiceAccount(ns, "app");
  reader = uniqueName("lk-pod-reader");
  await createClusterRole(reader, [{ apiGroups: [""], resources: ["pods"], verbs: ["list"] }]);
}, 120_000);

afterAll(async () => {
  await lk?.close();
  await cleanup();
  rmSync(dir, { recursive: true, force: true });
});

/** A role named after `target` that binds a temporary account to the pod reader through it. */
const readerRole = (target: string) =>
  lk.ok("POST", `kube/roles/${target}`, { kubernetes_role_name: reader, kubernetes_role_type: "ClusterRole", allowed_kubernetes_namespaces: [ns], target });

/** Issues creds for `role`, checks the token can list pods in `ns`, revokes, and checks nothing labelled is left. */
async function issueAndRevoke(role: string): Promise<void> {
  const creds = await lk.ok("POST", `kube/creds/${role}`, {});
  const token = creds.data.service_account_token as string;
  await eventually("list pods is allowed", () => canI(token, { verb: "list", resource: "pods", namespace: ns }), 5_000);
  const name = creds.data.service_account_name as string;
  expect((await objectsLabelled(MANAGED_BY_LATCHKEY)).filter((o) => o.includes(name)).sort()).toEqual([
    `rolebindings/${ns}/${name}`,
    `serviceaccounts/${ns}/${name}`,
  ]);
  await lk.revoke(creds.lease_id);
  expect((await objectsLabelled(MANAGED_BY_LATCHKEY)).filter((o) => o.includes(name))).toEqual([]);
}

describe("targets", () => {
  it("calls the API server with a client certificate", async () => {
    const user = uniqueName("latchkey-jit-user");
    const { cert, key } = await clientCertificate(user);
    const role = uniqueName("lk-jit");
    await createClusterRole(role, SA_REQUEST);
    await createClusterRoleBinding(role, role, [{ kind: "User", name: user, apiGroup: "rbac.authorization.k8s.io" }]);
    await lk.target("cert", { client_cert: cert, client_key: key });
    const read = await lk.request("GET", "kube/targets/cert");
    expect(read.json.data).toMatchObject({ client_key_set: true });
    expect(read.json.data.client_cert.trim()).toBe(cert.trim());
    expect(read.text).not.toContain("PRIVATE KEY");
    await readerRole("cert");
    await issueAndRevoke("cert");
  });

  it("calls the API server with the gateway's own token file, read again when it changes", async () => {
    writeFileSync(join(dir, "ca.crt"), kubeTestEnv().caPem ?? "");
    const first = await identityWith(home, "latchkey-gateway", SA_REQUEST);
    writeFileSync(tokenFile, first);
    await lk.ok("POST", "kube/targets/gateway", { kubernetes_host: kubeTestEnv().host, use_gateway_service_account: true });
    expect((await lk.request("GET", "kube/targets/gateway")).json.data).toMatchObject({ use_gateway_service_account: true, kubernetes_ca_cert: "" });
    await readerRole("gateway");
    await issueAndRevoke("gateway");
    // What the kubelet does when it rotates a projected token: the file changes, the target follows.
    writeFileSync(tokenFile, (await tokenRequest(home, "latchkey-gateway", { expirationSeconds: 3600 })).token);
    await issueAndRevoke("gateway");
    writeFileSync(tokenFile, "");
    const res = await lk.request("POST", "kube/creds/gateway", {});
    expect(res.status).toBe(502);
    expect(res.json).toEqual({ errors: [`the server has no service-account token at ${tokenFile}`] });
  });

  it("rotates a target's service-account token through TokenRequest; the roles using it keep working", async () => {
    const old = await identityWith(home, "latchkey-rotating", SA_REQUEST);
    await lk.target("rotating", { service_account_jwt: old });
    const res = await lk.ok("POST", "kube/targets/rotating/rotate", { ttl: "1h" });
    expect(res.data).toMatchObject({ service_account_name: "latchkey-rotating", service_account_namespace: home });
    expect(res.warnings[0]).toMatch(/^the new token expires at /);
    await readerRole("rotating");
    await issueAndRevoke("rotating");
  });
});

describe("role_binding_yaml", () => {
  it("makes reference 001's Role and RoleBinding per lease: exactly the document's permissions, in the allowed namespace", async () => {
    await lk.target("", { service_account_jwt: await identityWith(home, "latchkey-jit", SA_REQUEST) });
    // Subjects in the document are ignored: the binding's subject is the lease's own account.
    const yaml = `${REFERENCE_YAML}subjects:\n- kind: ServiceAccount\n  name: someone-else\n  namespace: ${home}\n`;
    await lk.ok("POST", "kube/roles/yaml", { role_binding_yaml: yaml, allowed_kubernetes_namespaces: [ns] });
    const creds = await lk.ok("POST", "kube/creds/yaml", {});
    const token = creds.data.service_account_token as string;
    await eventually("list pods is allowed", () => canI(token, { verb: "list", resource: "pods", namespace: ns }), 5_000);
    expect(await canI(token, { verb: "get", resource: "pods", namespace: ns })).toBe(false);
    expect(await canI(token, { verb: "list", resource: "pods", namespace: home })).toBe(false);
    expect((await reviewToken(token)).user?.username).toBe(`system:serviceaccount:${ns}:${creds.data.service_account_name}`);
    const mine = (await objectsLabelled(MANAGED_BY_LATCHKEY)).filter((o) => o.includes(creds.data.service_account_name));
    expect(mine.map((o) => o.split("/")[0]).sort()).toEqual(["rolebindings", "roles", "serviceaccounts"]);
    await lk.revoke(creds.lease_id);
    expect((await objectsLabelled(MANAGED_BY_LATCHKEY)).filter((o) => o.includes(creds.data.service_account_name))).toEqual([]);
  });
});
