/**
 * The kubernetes auth method's role bindings against the real kube-apiserver:
 * pod names with real pod-bound tokens, a namespace label selector with a real
 * namespace lookup, and audiences with tokens requested for them.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  adminClient,
  cleanup,
  createClusterRole,
  createClusterRoleBinding,
  createPod,
  createServiceAccount,
  kubeTestEnv,
  serviceAccountSubject,
  tokenRequest,
  uniqueName,
  uniqueNamespace,
  type CreatedRef,
} from "../helpers/k8s.js";
import {
  authServer,
  clusterCaPem,
  expectDenied,
  expectLoggedIn,
  expectNoJwt,
  expectUpstream,
  retryWhile,
  reviewerAccount,
  type AuthServer,
} from "../helpers/k8s-auth.js";

const AUDIENCE = "https://latchkey.test/kubernetes";

let lk: AuthServer;
let ns: string;
let app: CreatedRef;
let reviewerJwt: string;
const seen: string[] = [];

/** A TokenRequest token, remembered so that the last test can look for it in the logs. */
async function token(...args: Parameters<typeof tokenRequest>): Promise<string> {
  const jwt = (await tokenRequest(...args)).token;
  seen.push(jwt);
  return jwt;
}

beforeAll(async () => {
  lk = await authServer();
  ns = await uniqueNamespace({ "latchkey.test/suite": "k8s-auth-bindings" });
  app = await createServiceAccount(ns, "app");
  reviewerJwt = await reviewerAccount(ns, "reviewer", { delegator: true });
  // bound_service_account_namespace_selector reads namespaces with the reviewer identity.
  const reader = await createClusterRole(uniqueName("lk-namespace-reader"), [
    { apiGroups: [""], resources: ["namespaces"], verbs: ["get"] },
  ]);
  await createClusterRoleBinding(uniqueName("lk-namespace-reader"), reader.name, [serviceAccountSubject(ns, "reviewer")]);
  await lk.enable("kubernetes");
  await lk.write("auth/kubernetes/config", {
    kubernetes_host: kubeTestEnv().host,
    kubernetes_ca_cert: clusterCaPem(),
    token_reviewer_jwt: reviewerJwt,
  });
});

afterAll(async () => {
  await lk?.close();
  await cleanup();
});

const metadataOf = (namespace: string, uid: string, role: string) => ({
  role,
  service_account_name: "app",
  service_account_namespace: namespace,
  service_account_secret_name: "",
  service_account_uid: uid,
});

describe("pod-name binding with pod-bound tokens", () => {
  let pod: CreatedRef;
  let podJwt: string;
  let unboundJwt: string;

  beforeAll(async () => {
    pod = await createPod(ns, "web-0", "app");
    podJwt = await token(ns, "app", { pod });
    unboundJwt = await token(ns, "app");
    const role = { bound_service_account_names: "app", bound_service_account_namespaces: ns };
    await lk.write("auth/kubernetes/role/web", { ...role, bound_pod_names: ["web-*"] });
    await lk.write("auth/kubernetes/role/api", { ...role, bound_pod_names: ["api-0", "api-1"] });
  });

  it("logs in a token bound to a pod the role names, with pod_name and pod_uid in the metadata", async () => {
    const auth = expectLoggedIn(await lk.login("kubernetes", { role: "web", jwt: podJwt }));
    expect(auth.metadata).toEqual({ ...metadataOf(ns, app.uid, "web"), pod_name: "web-0", pod_uid: pod.uid });
  });

  it("refuses a pod the role does not name: 403 pod not authorized", async () => {
    expectDenied(await lk.login("kubernetes", { role: "api", jwt: podJwt }), "pod not authorized");
  });

  it("refuses a token bound to no pod when the role binds pods: 403 pod not authorized", async () => {
    expectDenied(await lk.login("kubernetes", { role: "web", jwt: unboundJwt }), "pod not authorized");
  });

  it("refuses a token whose pod was deleted: 403 token not authenticated", async () => {
    const doomed = await createPod(ns, "web-1", "app");
    const jwt = await token(ns, "app", { pod: doomed });
    // An unscheduled pod is deleted at once: there is no kubelet to wait for.
    await adminClient().delete(`/api/v1/namespaces/${ns}/pods/web-1`);
    const res = await retryWhile(() => lk.login("kubernetes", { role: "web", jwt }), (r) => r.status === 200);
    expectDenied(res, "token not authenticated");
  });
});

describe("namespace label selector", () => {
  let labelled: string;
  let unlabelled: string;
  let labelledUid: string;

  beforeAll(async () => {
    labelled = await uniqueNamespace({ "latchkey.test/team": "payments", "latchkey.test/tier": "gold" });
    unlabelled = await uniqueNamespace();
    labelledUid = (await createServiceAccount(labelled, "app")).uid;
    await createServiceAccount(unlabelled, "app");
    await lk.write("auth/kubernetes/role/payments", {
      bound_service_account_names: "app",
      bound_service_account_namespace_selector: JSON.stringify({ matchLabels: { "latchkey.test/team": "payments" } }),
    });
    await lk.write("auth/kubernetes/role/gold", {
      bound_service_account_names: "app",
      bound_service_account_namespace_selector: [
        "matchExpressions:",
        "  - key: latchkey.test/tier",
        "    operator: In",
        "    values: [gold, platinum]",
      ].join("\n"),
    });
  });

  it("logs in from a namespace whose labels match (JSON matchLabels, YAML matchExpressions)", async () => {
    const jwt = await token(labelled, "app");
    for (const role of ["payments", "gold"]) {
      const auth = expectLoggedIn(await lk.login("kubernetes", { role, jwt }));
      expect(auth.metadata).toEqual(metadataOf(labelled, labelledUid, role));
    }
  });

  it("refuses a namespace without the labels: 403 namespace not authorized", async () => {
    const jwt = await token(unlabelled, "app");
    for (const role of ["payments", "gold"]) {
      expectDenied(await lk.login("kubernetes", { role, jwt }), "namespace not authorized");
    }
  });

  it("answers 502 when the reviewer may review tokens but not read namespaces", async () => {
    const delegatorOnly = await reviewerAccount(ns, "reviewer-without-namespaces", { delegator: true });
    seen.push(delegatorOnly);
    await lk.enable("k8s-no-namespaces");
    await lk.write("auth/k8s-no-namespaces/config", {
      kubernetes_host: kubeTestEnv().host,
      kubernetes_ca_cert: clusterCaPem(),
      token_reviewer_jwt: delegatorOnly,
    });
    await lk.write("auth/k8s-no-namespaces/role/payments", {
      bound_service_account_names: "app",
      bound_service_account_namespace_selector: '{"matchLabels": {"latchkey.test/team": "payments"}}',
    });
    expectUpstream(
      await lk.login("k8s-no-namespaces", { role: "payments", jwt: await token(labelled, "app") }),
      502,
      "kubernetes namespace lookup failed: the reviewer identity is not allowed to get namespaces (needed by bound_service_account_namespace_selector)",
    );
  });
});

describe("audiences", () => {
  beforeAll(async () => {
    const role = { bound_service_account_names: "app", bound_service_account_namespaces: ns };
    await lk.write("auth/kubernetes/role/ours", { ...role, audience: AUDIENCE });
    await lk.write("auth/kubernetes/role/theirs", { ...role, audience: "https://someone-else.test" });
    await lk.write("auth/kubernetes/role/default-audience", role);
  });

  it("logs in a token requested for the role's audience", async () => {
    const auth = expectLoggedIn(await lk.login("kubernetes", { role: "ours", jwt: await token(ns, "app", { audiences: [AUDIENCE] }) }));
    expect(auth.metadata).toEqual(metadataOf(ns, app.uid, "ours"));
  });

  it("logs in a token with several audiences when one of them is the role's", async () => {
    const jwt = await token(ns, "app", { audiences: ["https://another.test", AUDIENCE] });
    expectLoggedIn(await lk.login("kubernetes", { role: "ours", jwt }));
  });

  it("refuses a token for another audience: 403 audience not authorized", async () => {
    const custom = await token(ns, "app", { audiences: [AUDIENCE] });
    expectDenied(await lk.login("kubernetes", { role: "theirs", jwt: custom }), "audience not authorized");
    // A default token carries the API server's own audience, which is not the role's either.
    expectDenied(await lk.login("kubernetes", { role: "ours", jwt: await token(ns, "app") }), "audience not authorized");
  });

  it("reviews for the API server's audience when the role names none, so a custom-audience token fails the review", async () => {
    expectLoggedIn(await lk.login("kubernetes", { role: "default-audience", jwt: await token(ns, "app") }));
    const custom = await token(ns, "app", { audiences: [AUDIENCE] });
    expectDenied(await lk.login("kubernetes", { role: "default-audience", jwt: custom }), "token not authenticated");
  });
});

it("never logs a service-account token", () => {
  expectNoJwt(lk.logs(), [reviewerJwt, ...seen]);
});
