/**
 * The kubernetes auth method's cluster configs against the real
 * kube-apiserver: local JWKS validation through the cluster's OIDC discovery,
 * several named configs on one mount, and the whole chain from a pod's token
 * to a KV secret through a policy templated on the login's metadata.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  adminClient,
  cleanup,
  createServiceAccount,
  kubeTestEnv,
  tokenRequest,
  uniqueNamespace,
  type CreatedRef,
} from "../helpers/k8s.js";
import {
  authServer,
  clusterCaPem,
  expectDenied,
  expectLoggedIn,
  expectNoJwt,
  forgedToken,
  reviewerAccount,
  type AuthServer,
} from "../helpers/k8s-auth.js";

/** The issuer scripts/k8s-test-cluster.sh starts the API server with; another cluster may set KUBE_SA_ISSUER. */
const ISSUER = process.env.KUBE_SA_ISSUER || "https://kubernetes.default.svc.cluster.local";

let lk: AuthServer;
let ns: string;
let app: CreatedRef;
let appJwt: string;
const seen: string[] = [];

beforeAll(async () => {
  lk = await authServer();
  ns = await uniqueNamespace({ "latchkey.test/suite": "k8s-auth-configs" });
  app = await createServiceAccount(ns, "app");
  appJwt = (await tokenRequest(ns, "app")).token;
  seen.push(appJwt);
});

afterAll(async () => {
  await lk?.close();
  await cleanup();
});

const appRole = () => ({ bound_service_account_names: "app", bound_service_account_namespaces: ns });

const appMetadata = (role: string) => ({
  role,
  service_account_name: "app",
  service_account_namespace: ns,
  service_account_secret_name: "",
  service_account_uid: app.uid,
});

describe("validation: jwks through the cluster's OIDC discovery", () => {
  beforeAll(async () => {
    await lk.enable("k8s-jwks");
    // No reviewer of any kind: discovery and JWKS are public, and nothing calls TokenReview.
    await lk.write("auth/k8s-jwks/config", {
      kubernetes_host: kubeTestEnv().host,
      kubernetes_ca_cert: clusterCaPem(),
      validation: "jwks",
      disable_local_ca_jwt: true,
      disable_iss_validation: false,
      issuer: ISSUER,
    });
    await lk.write("auth/k8s-jwks/role/app", appRole());
  });

  it("logs in with the signature verified against /openid/v1/jwks", async () => {
    const auth = expectLoggedIn(await lk.login("k8s-jwks", { role: "app", jwt: appJwt }));
    expect(auth.metadata).toEqual(appMetadata("app"));
  });

  it("refuses a token whose signature the cluster's keys do not verify: 403 token not authenticated", async () => {
    expectDenied(await lk.login("k8s-jwks", { role: "app", jwt: await forgedToken(appJwt) }), "token not authenticated");
  });

  it("keeps accepting a token after its service account is deleted, as documented: no TokenReview, no early revocation", async () => {
    await createServiceAccount(ns, "gone");
    const jwt = (await tokenRequest(ns, "gone")).token;
    seen.push(jwt);
    await lk.write("auth/k8s-jwks/role/gone", { bound_service_account_names: "gone", bound_service_account_namespaces: ns });
    await adminClient().delete(`/api/v1/namespaces/${ns}/serviceaccounts/gone`);
    expectLoggedIn(await lk.login("k8s-jwks", { role: "gone", jwt }));
  });
});

describe("named configs on one mount", () => {
  beforeAll(async () => {
    const { host } = kubeTestEnv();
    const reviewerA = await reviewerAccount(ns, "reviewer-a", { delegator: true });
    const reviewerB = await reviewerAccount(ns, "reviewer-b", { delegator: true });
    seen.push(reviewerA, reviewerB);
    const cluster = { kubernetes_host: host, kubernetes_ca_cert: clusterCaPem() };
    await lk.enable("k8s-multi");
    // The same API server seen as two clusters, each with its own reviewer; `east` also checks the issuer.
    await lk.write("auth/k8s-multi/config/east", {
      ...cluster,
      token_reviewer_jwt: reviewerA,
      disable_iss_validation: false,
      issuer: ISSUER,
    });
    await lk.write("auth/k8s-multi/config/west", { ...cluster, token_reviewer_jwt: reviewerB });
    // A config for a cluster with another issuer: this cluster's tokens are not its own.
    await lk.write("auth/k8s-multi/config/foreign", {
      ...cluster,
      token_reviewer_jwt: reviewerA,
      disable_iss_validation: false,
      issuer: "https://foreign.latchkey.test",
    });
    await lk.write("auth/k8s-multi/role/any", appRole());
    await lk.write("auth/k8s-multi/role/east-only", { ...appRole(), bound_config_names: "east" });
  });

  it("lists the configs", async () => {
    const res = await lk.request("LIST", "auth/k8s-multi/config");
    expect(res.status).toBe(200);
    expect([...res.json.data.keys].sort()).toEqual(["east", "foreign", "west"]);
    expectNoJwt(res.text);
  });

  it("logs the same token in through either config, recording config_name in the token's metadata", async () => {
    for (const config of ["east", "west"]) {
      const auth = expectLoggedIn(await lk.login("k8s-multi", { role: "any", jwt: appJwt, config }));
      expect(auth.metadata).toEqual({ ...appMetadata("any"), config_name: config });
      const self = await lk.request("GET", "auth/token/lookup-self", { token: auth.client_token });
      expect(self.status).toBe(200);
      expect(self.json.data.meta).toEqual({ ...appMetadata("any"), config_name: config });
    }
  });

  it("refuses a token from another issuer than the config's: 403 issuer not authorized", async () => {
    expectDenied(await lk.login("k8s-multi", { role: "any", jwt: appJwt, config: "foreign" }), "issuer not authorized");
  });

  it("lets bound_config_names choose which configs may use a role: 403 config not authorized", async () => {
    expectLoggedIn(await lk.login("k8s-multi", { role: "east-only", jwt: appJwt, config: "east" }));
    expectDenied(await lk.login("k8s-multi", { role: "east-only", jwt: appJwt, config: "west" }), "config not authorized");
  });

  it("answers 400 for a config that does not exist, and for none on a mount without a default config", async () => {
    const unknown = await lk.login("k8s-multi", { role: "any", jwt: appJwt, config: "north" });
    expect({ status: unknown.status, body: unknown.json }).toEqual({ status: 400, body: { errors: ['invalid config name "north"'] } });
    const none = await lk.login("k8s-multi", { role: "any", jwt: appJwt });
    expect({ status: none.status, body: none.json }).toEqual({
      status: 400,
      body: { errors: ['no default config: write auth/k8s-multi/config or name one in "config"'] },
    });
  });
});

describe("from a pod's token to its namespace's secrets", () => {
  let other: string;
  let otherJwt: string;

  beforeAll(async () => {
    other = await uniqueNamespace({ "latchkey.test/suite": "k8s-auth-configs" });
    await createServiceAccount(other, "app");
    otherJwt = (await tokenRequest(other, "app")).token;
    seen.push(otherJwt);
    const reviewer = await reviewerAccount(ns, "reviewer-kv", { delegator: true });
    seen.push(reviewer);
    await lk.enable("k8s-kv");
    await lk.write("auth/k8s-kv/config", {
      kubernetes_host: kubeTestEnv().host,
      kubernetes_ca_cert: clusterCaPem(),
      token_reviewer_jwt: reviewer,
    });
    await lk.write("auth/k8s-kv/role/apps", {
      bound_service_account_names: "app",
      bound_service_account_namespaces: [ns, other],
      token_policies: "namespace-kv",
    });
    await lk.write("sys/policies/acl/namespace-kv", {
      policy: `path "secret/data/ns/{{token.metadata.service_account_namespace}}/*" { capabilities = ["create", "read", "update"] }`,
    });
    await lk.write(`secret/data/ns/${ns}/db`, { data: { password: "ns-one" } });
    await lk.write(`secret/data/ns/${other}/db`, { data: { password: "ns-two" } });
  });

  it("reads and writes its own namespace's subtree and nothing else", async () => {
    const auth = expectLoggedIn(await lk.login("k8s-kv", { role: "apps", jwt: appJwt }));
    expect(auth.policies).toEqual(["default", "namespace-kv"]);
    const token = auth.client_token;

    const own = await lk.request("GET", `secret/data/ns/${ns}/db`, { token });
    expect(own.status).toBe(200);
    expect(own.json.data.data).toEqual({ password: "ns-one" });
    const write = await lk.request("POST", `secret/data/ns/${ns}/cache`, { token, body: { data: { url: "redis://cache" } } });
    expect(write.status).toBe(200);

    const theirs = await lk.request("GET", `secret/data/ns/${other}/db`, { token });
    expect({ status: theirs.status, body: theirs.json }).toEqual({ status: 403, body: { errors: ["permission denied"] } });
    expect((await lk.request("GET", "secret/data/shared/db", { token })).status).toBe(403);
  });

  it("gives the other namespace's service account its own subtree through the same policy", async () => {
    const { client_token: token } = expectLoggedIn(await lk.login("k8s-kv", { role: "apps", jwt: otherJwt }));
    expect((await lk.request("GET", `secret/data/ns/${other}/db`, { token })).json.data.data).toEqual({ password: "ns-two" });
    expect((await lk.request("GET", `secret/data/ns/${ns}/db`, { token })).status).toBe(403);
  });
});

it("never logs a service-account token", () => {
  expectNoJwt(lk.logs(), seen);
});
