import { LATCHKEY_BIN, round, spawnNode, waitForOutput } from "../lib/processes.js";
import { useTestCluster } from "../lib/k8s.js";
import type { BenchContext, Scenario } from "../lib/types.js";
import { adminClient, cleanup, kubeTestEnv, uniqueName, uniqueNamespace } from "../../test/helpers/k8s.js";
import { registerWebhook, WEBHOOKS } from "../../test/helpers/webhook.js";

const LABEL = "latchkey.bench/injector";
/** Pod creates in flight: a Deployment scaling up or a Job's parallel pods, not a storm. */
const CREATORS = 4;

/** An opted-in pod with one secret in init mode: the injector's most common patch. */
function pod(name: string) {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, labels: { "latchkey.io/inject": "true" }, annotations: { "latchkey.io/role": "app", "latchkey.io/inject-secret-db": "secret/data/db" } },
    spec: { containers: [{ name: "app", image: "app:1", command: ["/usr/bin/app"] }] },
  };
}

const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? 0;

/** Pod creates for `seconds` by CREATORS concurrent callers; latencies in ms. */
async function createPods(ns: string, prefix: string, seconds: number, expectInjected: boolean): Promise<{ latencies: number[]; elapsedS: number; wrong: number }> {
  const latencies: number[] = [];
  let wrong = 0;
  let n = 0;
  const t0 = performance.now();
  const until = t0 + seconds * 1000;
  await Promise.all(
    Array.from({ length: CREATORS }, async () => {
      while (performance.now() < until) {
        const started = performance.now();
        const created = await adminClient().create<{ metadata: { annotations?: Record<string, string> } }>(`/api/v1/namespaces/${ns}/pods`, pod(`${prefix}-${n++}`));
        latencies.push(performance.now() - started);
        if ((created.metadata.annotations?.["latchkey.io/status"] === "injected") !== expectInjected) wrong++;
      }
    }),
  );
  return { latencies: latencies.sort((a, b) => a - b), elapsedS: (performance.now() - t0) / 1000, wrong };
}

/**
 * Pod creates through the real API server, first with no webhook registered,
 * then with a MutatingWebhookConfiguration calling `latchkey injector` on
 * loopback (over TLS, --tls-auto publishing its caBundle); the figure is the
 * p99 the webhook adds. Every pod is deleted afterwards.
 */
export const podCreateWithWebhook: Scenario = {
  name: "pod-create-with-webhook",
  about: `pod creates through kube-apiserver (${CREATORS} at a time) with the injector's webhook registered; baseline: the same creates without it`,
  async unavailable() {
    const missing = useTestCluster();
    if (missing) return missing;
    return kubeTestEnv().kubeconfig ? undefined : "the injector needs KUBECONFIG (scripts/k8s-test-cluster.sh env)";
  },
  async run(ctx: BenchContext) {
    ctx.defer(() => cleanup());
    const selector = uniqueName("bench");
    const ns = await uniqueNamespace({ [LABEL]: selector, "latchkey.bench": "true" });
    // Pods need the namespace's default service account, which the controller-manager adds.
    for (let i = 0; !(await adminClient().get(`/api/v1/namespaces/${ns}/serviceaccounts/default`).then(() => true, () => false)); i++) {
      if (i > 120) throw new Error(`no default service account in ${ns} after 60 s`);
      await new Promise((r) => setTimeout(r, 500));
    }
    ctx.defer(() => adminClient().request("DELETE", `/api/v1/namespaces/${ns}/pods`).then(() => undefined));
    const seconds = ctx.settings.durationS;
    await createPods(ns, "warm", ctx.settings.warmupS, false);
    const without = await createPods(ns, "plain", seconds, false);

    const configName = uniqueName("latchkey-injector-bench");
    await registerWebhook(configName, { label: LABEL, value: selector });
    const injector = spawnNode(
      [
        LATCHKEY_BIN, "injector",
        "--listen", "127.0.0.1:0",
        "--latchkey-addr", "https://latchkey.latchkey.svc:8200",
        "--agent-image", "latchkey:bench",
        "--tls-auto", "--webhook-config-name", configName, "--tls-hosts", "127.0.0.1",
        "--kubeconfig", kubeTestEnv().kubeconfig ?? "",
        "--native-sidecars", "off",
        "--reconcile-interval", "0",
      ],
      { cpus: ctx.settings.cpus?.server },
    );
    ctx.defer(() => injector.stop());
    const [, port] = await waitForOutput(injector, /"port":(\d+)/);
    await adminClient().request("PATCH", `${WEBHOOKS}/${configName}`, [
      { op: "replace", path: "/webhooks/0/clientConfig/url", value: `https://127.0.0.1:${port}/mutate` },
    ], { contentType: "application/json-patch+json" });
    // The API server picks the configuration up through a watch: wait until pods come back injected.
    for (let i = 0; ; i++) {
      const probe = await createPods(ns, `probe${i}`, 0.2, true);
      if (probe.wrong === 0) break;
      if (i > 100) throw new Error("the API server never called the webhook");
    }
    await createPods(ns, "warm-hook", ctx.settings.warmupS, true);
    const withHook = await createPods(ns, "hook", seconds, true);
    const p = (r: typeof without, q: number) => round(percentile(r.latencies, q), 1);
    return {
      ops_per_s: round(withHook.latencies.length / withHook.elapsedS, 1),
      p50_ms: p(withHook, 50),
      p99_ms: p(withHook, 99),
      peak_rss_mb: null,
      details: {
        creators: CREATORS,
        pods_without: without.latencies.length,
        pods_with: withHook.latencies.length,
        without_ops_per_s: round(without.latencies.length / without.elapsedS, 1),
        without_p50_ms: p(without, 50),
        without_p99_ms: p(without, 99),
        added_p50_ms: round(p(withHook, 50) - p(without, 50), 1),
        added_p99_ms: round(p(withHook, 99) - p(without, 99), 1),
        not_injected: withHook.wrong,
        injected_without_webhook: without.wrong,
      },
    };
  },
};
