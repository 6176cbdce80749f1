/**
 * A client-certificate target through a real CertificateSigningRequest:
 * latchkey files the CSR with a bootstrap token that may do nothing else,
 * `kubectl certificate approve` approves it, the kube-controller-manager
 * signs it, and latchkey then calls the API server with that certificate
 * and the key it kept in its barrier.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  canI,
  cleanup,
  createClusterRole,
  createClusterRoleBinding,
  deleteOnCleanup,
  eventually,
  identityWith,
  kubectl,
  MANAGED_BY_LATCHKEY,
  objectsLabelled,
  SA_REQUEST,
  secretsEngine,
  uniqueName,
  uniqueNamespace,
  type SecretsEngine,
} from "../helpers/k8s.js";

const CSR_ONLY = [{ apiGroups: ["certificates.k8s.io"], resources: ["certificatesigningrequests"], verbs: ["create", "get"] }];

let lk: SecretsEngine;
let home: string;
let ns: string;

beforeAll(async () => {
  home = await uniqueNamespace();
  ns = await uniqueNamespace();
  lk = await secretsEngine();
}, 120_000);

afterAll(async () => {
  await lk?.close();
  await cleanup();
});

describe("client certificate through a CSR", () => {
  it("files the CSR, waits for approval, then calls the API server with the signed certificate", async () => {
    const user = uniqueName("latchkey-csr-user");
    const jit = uniqueName("lk-csr-jit");
    await createClusterRole(jit, SA_REQUEST);
    await createClusterRoleBinding(jit, jit, [{ kind: "User", name: user, apiGroup: "rbac.authorization.k8s.io" }]);
    // The bootstrap identity may file and read CSRs, nothing else.
    await lk.target("csr", { service_account_jwt: await identityWith(home, "latchkey-csr-bootstrap", CSR_ONLY) });
    await lk.ok("POST", "kube/roles/csr", { kubernetes_role_name: "view", kubernetes_role_type: "ClusterRole", allowed_kubernetes_namespaces: [ns], target: "csr" });
    const before = await lk.request("POST", "kube/creds/csr", {});
    expect(before.status).toBe(502);

    const filed = await lk.ok("POST", "kube/targets/csr/csr", { common_name: user, organization: "latchkey-test" });
    const csrName = filed.data.csr_name as string;
    deleteOnCleanup(`/apis/certificates.k8s.io/v1/certificatesigningrequests/${csrName}`);
    expect(filed.data.csr).toMatch(/^-----BEGIN CERTIFICATE REQUEST-----/);
    expect(JSON.stringify(filed)).not.toContain("PRIVATE KEY");
    expect(await kubectl(["get", "csr", csrName, "-o", "jsonpath={.spec.signerName} {.spec.username}"])).toBe(
      `kubernetes.io/kube-apiserver-client system:serviceaccount:${home}:latchkey-csr-bootstrap`,
    );

    const early = await lk.request("POST", "kube/targets/csr/csr/install", {});
    expect(early.status).toBe(400);
    expect(early.json.errors[0]).toBe(`certificate request "${csrName}" is not approved yet: kubectl certificate approve ${csrName}`);

    await kubectl(["certificate", "approve", csrName]);
    await eventually(
      "the controller-manager signs the CSR",
      async () => (await kubectl(["get", "csr", csrName, "-o", "jsonpath={.status.certificate}"])) !== "",
      60_000,
    );
    const status = await lk.request("GET", "kube/targets/csr/csr");
    expect(status.json.data).toMatchObject({ csr_name: csrName, approved: true, denied: false, issued: true });

    const installed = await lk.ok("POST", "kube/targets/csr/csr/install", {});
    expect(installed.data.client_cert).toMatch(/^-----BEGIN CERTIFICATE-----/);
    expect(Date.parse(installed.data.expiration)).toBeGreaterThan(Date.now());
    const read = await lk.request("GET", "kube/targets/csr");
    expect(read.json.data).toMatchObject({ client_key_set: true, service_account_jwt_set: false, client_cert: installed.data.client_cert });
    expect(read.text).not.toContain("PRIVATE KEY");
    expect((await lk.request("GET", "kube/targets/csr/csr")).status).toBe(404);

    // Only the certificate's user may create service accounts and bindings: issuing now works.
    const creds = await lk.ok("POST", "kube/creds/csr", {});
    const token = creds.data.service_account_token as string;
    await eventually("view lists pods", () => canI(token, { verb: "list", resource: "pods", namespace: ns }), 10_000);
    await lk.revoke(creds.lease_id);
    expect((await objectsLabelled(MANAGED_BY_LATCHKEY)).filter((o) => o.includes(creds.data.service_account_name))).toEqual([]);
  }, 120_000);

  it("answers 400 for a denied CSR and for missing fields, 404 without a request in progress", async () => {
    await lk.target("denied", { service_account_jwt: await identityWith(home, "latchkey-csr-denied", CSR_ONLY) });
    expect((await lk.request("POST", "kube/targets/denied/csr", {})).json).toEqual({ errors: [`field "common_name" is required`] });
    expect((await lk.request("POST", "kube/targets/denied/csr", { common_name: "x", key_algorithm: "DSA" })).status).toBe(400);
    expect((await lk.request("POST", "kube/targets/denied/csr/install", {})).status).toBe(404);
    expect((await lk.request("POST", "kube/targets/absent/csr", { common_name: "x" })).status).toBe(404);
    const filed = await lk.ok("POST", "kube/targets/denied/csr", { common_name: uniqueName("latchkey-denied"), key_algorithm: "RSA2048" });
    const csrName = filed.data.csr_name as string;
    deleteOnCleanup(`/apis/certificates.k8s.io/v1/certificatesigningrequests/${csrName}`);
    await kubectl(["certificate", "deny", csrName]);
    await eventually("the denial is seen", async () => (await lk.request("GET", "kube/targets/denied/csr")).json.data?.denied === true, 20_000);
    const res = await lk.request("POST", "kube/targets/denied/csr/install", {});
    expect(res.status).toBe(400);
    expect(res.json.errors[0]).toMatch(/was denied or failed/);
    expect((await lk.request("GET", "kube/targets/denied")).json.data).toMatchObject({ service_account_jwt_set: true, client_key_set: false });
  }, 120_000);
});
