/** `latchkey injector`: the HTTPS admission webhook, its metrics, and the reconciler of missed injections. */
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer, type Server as HttpsServer } from "node:https";
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

/** Reviews can carry a whole pod spec; the API server caps request bodies at 3 MiB. */
export const BODY_LIMIT = 4 * 1024 * 1024;
/**
 * A review whose body has not arrived in this time is of no use: the API
 * server gives a webhook at most 30 s (`timeoutSeconds`, default 10).
 */
export const REQUEST_TIMEOUT_MS = 30_000;

const JSON_TYPE = "application/json; charset=utf-8";

/**
 * The webhook over HTTPS, on node:https itself: three routes, one JSON body,
 * nothing for a framework to do but cost time per review (the measurement is
 * in bench/RESULTS.md). Swap its certificate with `setSecureContext`.
 */
export function buildInjectorServer(opts: {
  options: InjectorOptions;
  metrics: InjectorMetrics;
  https: ServingPair;
  requestTimeoutMs?: number;
}): HttpsServer {
  const timeout = opts.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
  const server = createServer({
    cert: opts.https.cert,
    key: opts.https.key,
    // A slow body gets 408 and its connection closed; checked every second, not node's 30 s.
    requestTimeout: timeout,
    headersTimeout: timeout,
    connectionsCheckingInterval: 1000,
  });
  // The API server keeps its connections to a webhook open between reviews.
  server.keepAliveTimeout = 72_000;
  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? "/";
    const query = url.indexOf("?");
    const path = query === -1 ? url : url.slice(0, query);
    const route = ROUTES[path];
    if (route === undefined) return sendErrors(res, 404, `no route ${req.method ?? ""} ${path}`);
    if (req.method !== route) {
      res.setHeader("allow", route);
      return sendErrors(res, 405, `${path} takes ${route}, not ${req.method ?? ""}`);
    }
    if (path === "/healthz") return send(res, 200, JSON_TYPE, '{"ok":true}');
    if (path === "/metrics") {
      opts.metrics.registry.metrics().then(
        (text) => send(res, 200, opts.metrics.registry.contentType, text),
        () => sendErrors(res, 500, "internal error"),
      );
      return;
    }
    serveReview(req, res, opts);
  });
  return server;
}

const ROUTES: Record<string, "GET" | "POST" | undefined> = Object.assign(Object.create(null) as Record<string, "GET" | "POST">, {
  "/mutate": "POST",
  "/healthz": "GET",
  "/metrics": "GET",
});

function serveReview(req: IncomingMessage, res: ServerResponse, opts: { options: InjectorOptions; metrics: InjectorMetrics }): void {
  const type = req.headers["content-type"];
  if (!isJson(type)) return sendErrors(res, 415, `the body must be application/json (UTF-8), not ${type === undefined ? "untyped" : JSON.stringify(type)}`);
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > BODY_LIMIT) return refuseTooLarge(req, res);
  const chunks: Buffer[] = [];
  let size = 0;
  req.on("data", (chunk: Buffer) => {
    size += chunk.length;
    if (size > BODY_LIMIT) return refuseTooLarge(req, res);
    chunks.push(chunk);
  });
  req.on("end", () => {
    if (res.headersSent) return;
    const start = process.hrtime.bigint();
    try {
      const text = chunks.length === 1 ? (chunks[0] as Buffer).toString("utf8") : Buffer.concat(chunks, size).toString("utf8");
      if (text === "") return sendErrors(res, 400, "the body is empty; an AdmissionReview was expected");
      let body: unknown;
      try {
        // JSON.parse keeps a "__proto__" member an own property and changes no prototype.
        body = JSON.parse(text);
      } catch {
        // Not V8's message: it quotes the body, which can hold a pod's environment values.
        return sendErrors(res, 400, "the body is not valid JSON");
      }
      const answer = answerReview(body, opts.options);
      opts.metrics.reviews.inc({ result: answer.result });
      if (answer.result === "injected") opts.metrics.injections.inc();
      send(res, 200, JSON_TYPE, answer.text);
    } catch (err) {
      if (!(err instanceof MalformedReview)) return sendErrors(res, 500, "internal error");
      opts.metrics.reviews.inc({ result: "malformed" });
      sendErrors(res, 400, `malformed AdmissionReview: ${err.message}`);
    } finally {
      opts.metrics.latency.observe(Number(process.hrtime.bigint() - start) / 1e9);
    }
  });
}

/** `application/json`, with no charset or UTF-8's (RFC 8259 JSON is UTF-8). */
function isJson(type: string | undefined): boolean {
  if (type === undefined) return false;
  const [media, ...params] = type.split(";");
  if (media?.trim().toLowerCase() !== "application/json") return false;
  return params.every((p) => {
    const [name, value] = p.split("=").map((part) => part.trim().toLowerCase());
    return name !== "charset" || value === "utf-8" || value === '"utf-8"';
  });
}

function refuseTooLarge(req: IncomingMessage, res: ServerResponse): void {
  if (res.headersSent) return;
  // The rest of the body is not read: answer, then close the connection.
  res.shouldKeepAlive = false;
  sendErrors(res, 413, `the body is over ${BODY_LIMIT} bytes`);
  res.once("finish", () => req.destroy());
}

function sendErrors(res: ServerResponse, status: number, message: string): void {
  send(res, status, JSON_TYPE, JSON.stringify({ errors: [message] }));
}

function send(res: ServerResponse, status: number, type: string, text: string): void {
  res.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(text) });
  res.end(text);
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
