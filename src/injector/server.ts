/** `latchkey injector`: the HTTPS admission webhook, its metrics, and the reconciler of missed injections. */
import fastify, { type FastifyInstance } from "fastify";
import type { Server as HttpsServer } from "node:https";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { KubeClient } from "../kube/client.js";
import type { KubeList, Pod } from "../kube/types.js";
import { INJECT_KEY, STATUS_ANNOTATION } from "./annotations.js";
import type { InjectorOptions } from "./patch.js";
import { answerReview, MalformedReview } from "./review.js";
import type { ServingPair } from "./tls.js";

/** Prometheus metrics of one injector. */
export function createInjectorMetrics() {
  const registry = new Registry();
  return {
    registry,
    reviews: new Counter({ name: "latchkey_injector_reviews_total", help: "AdmissionReviews answered, by result", labelNames: ["result"], registers: [registry] }),
    latency: new Histogram({
      name: "latchkey_injector_review_duration_seconds",
      help: "Time to answer one AdmissionReview",
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05],
      registers: [registry],
    }),
    injections: new Counter({ name: "latchkey_injector_injections_total", help: "Pods patched with the latchkey agent", registers: [registry] }),
    uninjected: new Gauge({
      name: "latchkey_injector_uninjected_pods",
      help: "Opted-in pods the last reconcile found without the latchkey.io/status annotation",
      registers: [registry],
    }),
  };
}

export type InjectorMetrics = ReturnType<typeof createInjectorMetrics>;

export type InjectorApp = FastifyInstance<HttpsServer>;

/** The webhook app over HTTPS; swap its certificate with `app.server.setSecureContext`. */
export function buildInjectorApp(opts: { options: InjectorOptions; metrics: InjectorMetrics; https: ServingPair }): InjectorApp {
  // Reviews can carry a whole pod spec; the API server caps request bodies at 3 MiB.
  const app = fastify({ https: { cert: opts.https.cert, key: opts.https.key }, bodyLimit: 4 * 1024 * 1024 });
  // JSON.parse keeps a "__proto__" member as an own property and never changes
  // a prototype; fastify's default parser refuses such a review outright, and
  // the API server would then fail the pod (or admit it uninjected) for a key
  // the review's answer does not depend on.
  app.addContentTypeParser("application/json", { parseAs: "string" }, (_req, body, done) => {
    try {
      done(null, JSON.parse(body as string));
    } catch {
      done(Object.assign(new Error("Body is not valid JSON but content-type is set to 'application/json'"), { statusCode: 400 }), undefined);
    }
  });
  app.setErrorHandler((err: { statusCode?: number; message: string }, _req, reply) => {
    const status = err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    void reply.code(status).send({ errors: [status === 500 ? "internal error" : err.message] });
  });
  app.post("/mutate", async (req, reply) => {
    const start = process.hrtime.bigint();
    try {
      const answer = answerReview(req.body, opts.options);
      opts.metrics.reviews.inc({ result: answer.result });
      if (answer.result === "injected") opts.metrics.injections.inc();
      return answer.body;
    } catch (err) {
      if (!(err instanceof MalformedReview)) throw err;
      opts.metrics.reviews.inc({ result: "malformed" });
      return reply.code(400).send({ errors: [`malformed AdmissionReview: ${err.message}`] });
    } finally {
      opts.metrics.latency.observe(Number(process.hrtime.bigint() - start) / 1e9);
    }
  });
  app.get("/healthz", async () => ({ ok: true }));
  app.get("/metrics", async (_req, reply) => reply.type(opts.metrics.registry.contentType).send(await opts.metrics.registry.metrics()));
  return app;
}

/** Whether the API server runs native sidecars: on by default from Kubernetes 1.29. */
export async function serverSupportsNativeSidecars(kube: KubeClient, signal?: AbortSignal): Promise<boolean> {
  const version = await kube.get<{ major?: string; minor?: string }>("/version", { signal });
  const major = Number.parseInt(version.major ?? "", 10);
  const minor = Number.parseInt(version.minor ?? "", 10);
  if (!Number.isFinite(major) || !Number.isFinite(minor)) throw new Error(`the API server reported an unreadable version ${JSON.stringify(version)}`);
  return major > 1 || (major === 1 && minor >= 29);
}

/**
 * Lists opted-in pods and reports those admitted without injection (a
 * webhook outage under `failurePolicy: Ignore`, or a configuration edited by
 * hand): the gauge, and a Warning Event on each pod.
 */
export async function reconcileOnce(
  kube: KubeClient,
  metrics: InjectorMetrics,
  skipNamespaces: string[],
  signal?: AbortSignal,
): Promise<Pod[]> {
  const list = await kube.get<KubeList<Pod>>("/api/v1/pods", { signal, query: { labelSelector: `${INJECT_KEY}=true` } });
  const missed = list.items.filter(
    (p) => p.metadata.annotations?.[STATUS_ANNOTATION] !== "injected" && !skipNamespaces.includes(p.metadata.namespace ?? ""),
  );
  metrics.uninjected.set(missed.length);
  for (const pod of missed) {
    const ns = pod.metadata.namespace ?? "default";
    const now = new Date().toISOString();
    await kube.create(`/api/v1/namespaces/${encodeURIComponent(ns)}/events`, {
      apiVersion: "v1",
      kind: "Event",
      metadata: { generateName: `${pod.metadata.name ?? "pod"}.latchkey-` },
      involvedObject: { apiVersion: "v1", kind: "Pod", namespace: ns, name: pod.metadata.name, uid: pod.metadata.uid },
      type: "Warning",
      reason: "LatchkeyNotInjected",
      message: `pod is labelled ${INJECT_KEY}=true but was admitted without the latchkey agent; recreate it once the injector is reachable`,
      source: { component: "latchkey-injector" },
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    }, { signal });
  }
  return missed;
}
