/**
 * The kubernetes auth method against the real kube-apiserver: every identity
 * latchkey can make its TokenReview with (a reviewer JWT, the server's own
 * token file, the client's JWT, a client certificate), what happens when that
 * identity lacks system:auth-delegator or is rejected, and a service account
 * deleted after its token was issued.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  adminClient,
  cleanup,
  createServiceAccount,
  kubeTestEnv,
  tokenRequest,
  uniqueName,
  uniqueNamespace,
  type CreatedRef,
} from "../helpers/k8s.js";
import {
  authServer,
  clientCertificate,
  clusterCaPem,
  expectDenied,
  expectLoggedIn,
  expectNoJwt,
  expectUpstream,
  forgedToken,
  grantAuthDelegator,
  retryWhile,
  reviewerAccount,
  type AuthServer,
} from "../helpers/k8s-auth.js";

const NO_DELEGATOR =
  "kubernetes TokenReview failed: the reviewer identity is not allowed to create tokenreviews (does it have system:auth-delegator?)";

let lk: AuthServer;
let ns: string;
let app: CreatedRef;
let appJwt: string;
let reviewerJwt: string;
let tokenDir: string;

beforeAll(async () => {
  lk = await authServer();
  ns = await uniqueNamespace({ "latchkey.test/suite": "k8s-auth-reviewers" });
  app = await createServiceAccount(ns, "app");
  appJwt = (await tokenRequest(ns, "app")).token;
  reviewerJwt = await reviewerAccount(ns, "reviewer", { delegator: true });
  tokenDir = mkdtempSync(join(tmpdir(), "latchkey-k8s-auth-"));
});

afterAll(async () => {
  await lk?.close();
  if (tokenDir) rmSync(tokenDir, { recursive: true, force: true });
  await cleanup();
});

/** Mounts the method at `auth/<path>` with `config` as its default config and a role `app` for service account `app` of `ns`. */
async function mountWith(path: string, config: object, options?: Record<string, string>): Promise<void> {
  await lk.enable(path, options);
  await lk.write(`auth/${path}/config`, { kubernetes_host: kubeTestEnv().host, ...config });
  await lk.write(`auth/${path}/role/app`, {
    bound_service_account_names: "app",
    bound_service_account_namespaces: ns,
    token_policies: "app-reader",
  });
}

const appMetadata = () => ({
  role: "app",
  service_account_name: "app",
  service_account_namespace: ns,
  service_account_secret_name: "",
  service_account_uid: app.uid,
});

describe("TokenReview made with token_reviewer_jwt", () => {
  beforeAll(() => mountWith("k8s-jwt", { kubernetes_ca_cert: clusterCaPem(), token_reviewer_jwt: reviewerJwt }));

  it("logs a pod in with Vault's auth block and the service account's metadata", async () => {
    const auth = expectLoggedIn(await lk.login("k8s-jwt", { role: "app", jwt: appJwt }));
    expect(auth).toMatchObject({
      policies: ["app-reader", "default"],
      token_policies: ["app-reader", "default"],
      metadata: appMetadata(),
      renewable: true,
      token_type: "service",
    });
    expect(auth.metadata).toEqual(appMetadata());
  });

  it("never returns the reviewer JWT on read", async () => {
    const res = await lk.request("GET", "auth/k8s-jwt/config");
    expect(res.status).toBe(200);
    expect(res.json.data).toMatchObject({ token_reviewer_jwt_set: true, validation: "tokenreview" });
    expect(res.json.data).not.toHaveProperty("token_reviewer_jwt");
    expectNoJwt(res.text, [reviewerJwt]);
  });

  it("refuses a token signed by a key the cluster does not know: 403 token not authenticated", async () => {
    expectDenied(await lk.login("k8s-jwt", { role: "app", jwt: await forgedToken(appJwt) }), "token not authenticated");
  });
});

describe("TokenReview made with the server's own service-account token file", () => {
  beforeAll(async () => {
    // What the kubelet would mount into latchkey's pod: a reviewer token and the cluster CA.
    writeFileSync(join(tokenDir, "token"), `${reviewerJwt}\n`);
    writeFileSync(join(tokenDir, "ca.crt"), clusterCaPem());
    await mountWith(
      "k8s-file",
      {},
      { service_account_token_path: join(tokenDir, "token"), service_account_ca_path: join(tokenDir, "ca.crt") },
    );
  });

  it("logs in with neither a reviewer JWT nor a CA in the config", async () => {
    const config = (await lk.request("GET", "auth/k8s-file/config")).json.data;
    expect(config).toMatchObject({ kubernetes_ca_cert: "", token_reviewer_jwt_set: false, client_key_set: false });
    // `app` holds no system:auth-delegator, so a fallback to the client's JWT would be a 502: the file's token reviewed it.
    const auth = expectLoggedIn(await lk.login("k8s-file", { role: "app", jwt: appJwt }));
    expect(auth.metadata).toEqual(appMetadata());
  });
});

describe("TokenReview made with the client's own JWT (no reviewer, disable_local_ca_jwt)", () => {
  let selfUid: string;
  let selfJwt: string;

  beforeAll(async () => {
    selfUid = (await createServiceAccount(ns, "self-reviewer")).uid;
    await grantAuthDelegator({ kind: "ServiceAccount", name: "self-reviewer", namespace: ns });
    selfJwt = (await tokenRequest(ns, "self-reviewer")).token;
    await mountWith("k8s-client", { kubernetes_ca_cert: clusterCaPem(), disable_local_ca_jwt: true });
    await lk.write("auth/k8s-client/role/self", {
      bound_service_account_names: "self-reviewer",
      bound_service_account_namespaces: ns,
    });
  });

  it("logs in a service account that holds system:auth-delegator itself", async () => {
    const auth = expectLoggedIn(await lk.login("k8s-client", { role: "self", jwt: selfJwt }));
    expect(auth.metadata).toEqual({ ...appMetadata(), role: "self", service_account_name: "self-reviewer", service_account_uid: selfUid });
  });

  it("answers 502 naming system:auth-delegator when the client's service account lacks it", async () => {
    expectUpstream(await lk.login("k8s-client", { role: "app", jwt: appJwt }), 502, NO_DELEGATOR);
  });

  it("answers a forged client JWT, which the API server rejects (401), with 403: the client's problem", async () => {
    expectDenied(await lk.login("k8s-client", { role: "self", jwt: await forgedToken(selfJwt) }), "token not authenticated");
  });
});

describe("TokenReview made with a client certificate", () => {
  beforeAll(async () => {
    const user = uniqueName("latchkey-reviewer");
    await grantAuthDelegator({ kind: "User", name: user, apiGroup: "rbac.authorization.k8s.io" });
    const { cert, key } = await clientCertificate(user);
    await mountWith("k8s-cert", { kubernetes_ca_cert: clusterCaPem(), client_cert: cert, client_key: key, disable_local_ca_jwt: true });
    const bystander = await clientCertificate(uniqueName("latchkey-bystander"));
    await mountWith("k8s-cert-bystander", {
      kubernetes_ca_cert: clusterCaPem(),
      client_cert: bystander.cert,
      client_key: bystander.key,
      disable_local_ca_jwt: true,
    });
  });

  it("logs in when the certificate's user is bound to system:auth-delegator", async () => {
    const res = await lk.request("GET", "auth/k8s-cert/config");
    expect(res.json.data).toMatchObject({ client_key_set: true, token_reviewer_jwt_set: false });
    expect(res.text).not.toContain("PRIVATE KEY");
    const auth = expectLoggedIn(await lk.login("k8s-cert", { role: "app", jwt: appJwt }));
    expect(auth.metadata).toEqual(appMetadata());
  });

  it("answers 502 naming system:auth-delegator when the certificate's user lacks it", async () => {
    expectUpstream(await lk.login("k8s-cert-bystander", { role: "app", jwt: appJwt }), 502, NO_DELEGATOR);
  });
});

describe("the gateway's own reviewer identity fails", () => {
  let withoutDelegator: string;

  beforeAll(async () => {
    withoutDelegator = await reviewerAccount(ns, "reviewer-without-delegator", { delegator: false });
    await mountWith("k8s-no-delegator", { kubernetes_ca_cert: clusterCaPem(), token_reviewer_jwt: withoutDelegator });
    await mountWith("k8s-bad-reviewer", { kubernetes_ca_cert: clusterCaPem(), token_reviewer_jwt: await forgedToken(reviewerJwt) });
  });

  it("answers 502 saying system:auth-delegator is missing, and logs it at error level without a token", async () => {
    expectUpstream(await lk.login("k8s-no-delegator", { role: "app", jwt: appJwt }), 502, NO_DELEGATOR);
    const errors = lk
      .logs()
      .split("\n")
      .filter((line) => line.includes('"level":50') && line.includes("does it have system:auth-delegator?"));
    expect(errors.length).toBeGreaterThan(0);
    for (const line of errors) expectNoJwt(line, [appJwt, withoutDelegator]);
  });

  it("answers 502 naming token_reviewer_jwt when the API server rejects it (401)", async () => {
    expectUpstream(
      await lk.login("k8s-bad-reviewer", { role: "app", jwt: appJwt }),
      502,
      "kubernetes TokenReview failed: the API server rejected the reviewer identity (401 Unauthorized); check token_reviewer_jwt",
    );
  });
});

describe("a service account deleted after its token was issued", () => {
  it("is refused with 403 token not authenticated", async () => {
    await createServiceAccount(ns, "short-lived");
    const before = (await tokenRequest(ns, "short-lived")).token;
    // Another expiry, or TokenRequest made in the same second would return the very same JWT.
    const jwt = (await tokenRequest(ns, "short-lived", { expirationSeconds: 900 })).token;
    expect(jwt).not.toBe(before);
    await lk.write("auth/k8s-jwt/role/short-lived", { bound_service_account_names: "short-lived", bound_service_account_namespaces: ns });
    expectLoggedIn(await lk.login("k8s-jwt", { role: "short-lived", jwt: before }));

    await adminClient().delete(`/api/v1/namespaces/${ns}/serviceaccounts/short-lived`);
    // `jwt` was never reviewed: the API server caches a successful token authentication for
    // 10 s, so `before` may still pass that long after the deletion, and that is the cluster's doing.
    // It looks service accounts up through an informer, which needs a moment to see the deletion.
    const res = await retryWhile(() => lk.login("k8s-jwt", { role: "short-lived", jwt }), (r) => r.status === 200);
    expectDenied(res, "token not authenticated");
  });
});

it("never logs a service-account token", () => {
  expectNoJwt(lk.logs(), [appJwt, reviewerJwt]);
});
