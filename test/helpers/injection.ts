/**
 * What the agent and injector suites share on top of test/helpers/k8s.ts: a
 * built latchkey server whose kubernetes auth method reviews tokens with the
 * test API server, and the injector registered as a MutatingWebhookConfiguration
 * that the API server calls for opted-in pods of the labelled namespaces.
 *
 *   const { server } = await kubernetesAuthServer(ns, ROOT);
 *   const injector = await webhookInjector({ selectorValue, latchkeyAddr: server.address, agentImage });
 */
import { expect } from "vitest";
import { pino } from "pino";
import { startInjector, type RunningInjector } from "../../src/injector/run.js";
import {
  adminClient,
  createClusterRoleBinding,
  createServiceAccount,
  kubeTestEnv,
  serviceAccountSubject,
  tokenRequest,
  uniqueName,
} from "./k8s.js";
import { api, startServerProcess, type ServerProcess } from "./process.js";
import { registerWebhook, WEBHOOKS } from "./webhook.js";

export { WEBHOOKS } from "./webhook.js";
/** The namespace label the test webhook's namespaceSelector matches. */
export const INJECTOR_LABEL = "latchkey.test/injector";

/**
 * Starts `latchkey server --dev` with the kubernetes auth method configured
 * against the test API server (a reviewer account with system:auth-delegator),
 * policy read-app on secret/data/app, and role app bound to service account
 * app in `namespace`.
 */
export async function kubernetesAuthServer(namespace: string, rootToken: string): Promise<{ server: ServerProcess; reviewerJwt: string }> {
  const kube = kubeTestEnv();
  await createServiceAccount(namespace, "reviewer");
  await createClusterRoleBinding(uniqueName("lk-reviewer"), "system:auth-delegator", [serviceAccountSubject(namespace, "reviewer")]);
  const reviewerJwt = (await tokenRequest(namespace, "reviewer", { expirationSeconds: 3600 })).token;
  const server = await startServerProcess(["--dev", "--dev-root-token", rootToken, "--listen", "127.0.0.1:0"]);
  const root = async (path: string, body: unknown) => {
    const res = await api(server.address, "POST", path, rootToken, body);
    expect([200, 204], `${path}: ${res.text}`).toContain(res.status);
  };
  await root("sys/auth/kubernetes", { type: "kubernetes" });
  await root("auth/kubernetes/config", { kubernetes_host: kube.host, kubernetes_ca_cert: kube.caPem, token_reviewer_jwt: reviewerJwt });
  await root("sys/policies/acl/read-app", { policy: 'path "secret/data/app" { capabilities = ["read"] }\n' });
  await root("auth/kubernetes/role/app", { bound_service_account_names: ["app"], bound_service_account_namespaces: [namespace], token_policies: ["read-app"] });
  return { server, reviewerJwt };
}

/**
 * Registers a MutatingWebhookConfiguration (deleted by cleanup()) for opted-in
 * pods in namespaces labelled INJECTOR_LABEL=`selectorValue`, starts the
 * injector on loopback with --tls-auto publishing its caBundle, and points the
 * webhook at it.
 */
export async function webhookInjector(opts: { selectorValue: string; latchkeyAddr: string; agentImage: string }): Promise<RunningInjector & { configName: string }> {
  const { kubeconfig } = kubeTestEnv();
  if (!kubeconfig) throw new Error("the injector tests need KUBECONFIG for the injector's own client");
  const configName = uniqueName("latchkey-injector-test");
  // The webhook must exist before --tls-auto publishes its caBundle; the
  // namespaceSelector keeps it off every other test's pods on this shared cluster.
  await registerWebhook(configName, { label: INJECTOR_LABEL, value: opts.selectorValue }, { reviewVersions: ["v1", "v1beta1"] });
  const injector = await startInjector(
    {
      listen: "127.0.0.1:0",
      latchkeyAddr: opts.latchkeyAddr,
      agentImage: opts.agentImage,
      tlsAuto: true,
      webhookConfigName: configName,
      tlsHosts: "127.0.0.1",
      tlsValidity: "1h",
      kubeconfig,
      nativeSidecars: "auto",
      namespace: "latchkey",
      reconcileInterval: "0",
    },
    pino({ level: "silent" }),
  );
  await adminClient().request("PATCH", `${WEBHOOKS}/${configName}`, [
    { op: "replace", path: "/webhooks/0/clientConfig/url", value: `https://127.0.0.1:${injector.port}/mutate` },
  ], { contentType: "application/json-patch+json" });
  return Object.assign(injector, { configName });
}
