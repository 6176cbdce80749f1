import type { AddressInfo } from "node:net";
import { connect } from "node:tls";
import type { Server } from "node:https";
import { Agent, request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { InjectorOptions } from "./patch.js";
import { BODY_LIMIT, buildInjectorServer, createInjectorMetrics } from "./server.js";
import { generatePair } from "./tls.js";

const options: InjectorOptions = {
  agentImage: "latchkey:1",
  latchkeyAddr: "https://latchkey:8200",
  tokenAudience: "latchkey",
  tokenExpirationSeconds: 600,
  nativeSidecars: false,
  ownNamespace: "latchkey",
};

function review(apiVersion: string, object: unknown, extra: Record<string, unknown> = {}) {
  return {
    apiVersion,
    kind: "AdmissionReview",
    request: { uid: "u-1", kind: { group: "", version: "v1", kind: "Pod" }, operation: "CREATE", namespace: "team", object, ...extra },
  };
}

const optedIn = {
  metadata: {
    name: "app",
    labels: { "latchkey.io/inject": "true" },
    annotations: { "latchkey.io/role": "app", "latchkey.io/inject-secret-db": "secret/data/db", "latchkey.io/mode": "native-sidecar" },
  },
  spec: { containers: [{ name: "app", image: "app", command: ["app"] }] },
};

describe("injector app", () => {
  let server: Server;
  let dispatcher: Agent;
  let ca: string;
  const metrics = createInjectorMetrics();
  beforeAll(async () => {
    const pair = await generatePair(["127.0.0.1"], 3_600_000);
    ca = pair.caPem;
    server = buildInjectorServer({ options, metrics, https: pair, requestTimeoutMs: 1500 });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    dispatcher = new Agent({ connect: { ca: pair.caPem } });
  });
  afterAll(async () => {
    await dispatcher.close();
    await new Promise((resolve) => server.close(resolve));
  });

  /** One request over HTTPS; an object payload is sent as application/json. */
  const app = {
    async inject(req: { method: "GET" | "POST" | "PUT"; url: string; payload?: unknown; headers?: Record<string, string> }) {
      const { port } = server.address() as AddressInfo;
      const json = req.payload !== undefined && typeof req.payload !== "string";
      const res = await request(`https://127.0.0.1:${port}${req.url}`, {
        method: req.method,
        dispatcher,
        headers: { ...(json && { "content-type": "application/json" }), ...req.headers },
        body: req.payload === undefined ? undefined : json ? JSON.stringify(req.payload) : (req.payload as string),
      });
      const body = await res.body.text();
      return { statusCode: res.statusCode, headers: res.headers, body, json: <T = unknown>() => JSON.parse(body) as T };
    },
  };

  it.each(["admission.k8s.io/v1", "admission.k8s.io/v1beta1"])("answers %s in the request's version with a base64 JSONPatch and warnings", async (version) => {
    const res = await app.inject({ method: "POST", url: "/mutate", payload: review(version, optedIn) });
    expect(res.statusCode).toBe(200);
    const body = res.json<{ apiVersion: string; response: { uid: string; allowed: boolean; patchType: string; patch: string; warnings: string[] } }>();
    expect(body.apiVersion).toBe(version);
    expect(body.response).toMatchObject({ uid: "u-1", allowed: true, patchType: "JSONPatch" });
    expect(body.response.warnings).toEqual([
      "latchkey: this API server does not run native sidecars (Kubernetes 1.29+); injected a sidecar container instead",
    ]);
    const patch = JSON.parse(Buffer.from(body.response.patch, "base64").toString("utf8")) as { path: string }[];
    expect(patch.map((op) => op.path)).toContain("/metadata/annotations/latchkey.io~1status");
  });

  it("refuses an opted-in pod with a bad annotation, with the message in status", async () => {
    const bad = { ...optedIn, metadata: { ...optedIn.metadata, annotations: { ...optedIn.metadata.annotations, "latchkey.io/mode": "x" } } };
    const res = await app.inject({ method: "POST", url: "/mutate", payload: review("admission.k8s.io/v1", bad) });
    expect(res.json()).toEqual({
      apiVersion: "admission.k8s.io/v1",
      kind: "AdmissionReview",
      response: { uid: "u-1", allowed: false, status: { code: 400, message: 'latchkey: latchkey.io/mode must be one of init, sidecar, native-sidecar, not "x"' } },
    });
  });

  it("allows what it cannot handle with a warning, unless the pod opted in", async () => {
    const plain = { metadata: { name: "p" }, spec: { containers: [] } };
    const update = await app.inject({ method: "POST", url: "/mutate", payload: review("admission.k8s.io/v1", plain, { operation: "UPDATE" }) });
    expect(update.json<{ response: unknown }>().response).toEqual({ uid: "u-1", allowed: true, warnings: ["latchkey injects pods on CREATE only"] });
    const opted = await app.inject({ method: "POST", url: "/mutate", payload: review("admission.k8s.io/v1", optedIn, { operation: "UPDATE" }) });
    expect(opted.json<{ response: unknown }>().response).toEqual({
      uid: "u-1",
      allowed: false,
      status: { code: 400, message: "latchkey injects pods on CREATE only" },
    });
  });

  it('answers a review holding "__proto__" keys by its content, changing no prototype', async () => {
    const pod = JSON.stringify(optedIn).replace('"metadata":{', '"__proto__":{"polluted":true},"metadata":{');
    const text = JSON.stringify(review("admission.k8s.io/v1", "POD")).replace('"POD"', pod).replace('"request":{', '"__proto__":{"isAdmin":true},"request":{');
    const res = await app.inject({ method: "POST", url: "/mutate", headers: { "content-type": "application/json" }, payload: text });
    expect(res.statusCode).toBe(200);
    const body = res.json<{ response: { uid: string; allowed: boolean; patch: string } }>();
    expect(body.response).toMatchObject({ uid: "u-1", allowed: true });
    expect(JSON.parse(Buffer.from(body.response.patch, "base64").toString("utf8"))).toEqual(expect.arrayContaining([expect.objectContaining({ path: "/metadata/annotations/latchkey.io~1status" })]));
    expect(({} as Record<string, unknown>)["polluted"]).toBeUndefined();
    expect(({} as Record<string, unknown>)["isAdmin"]).toBeUndefined();

    const refused = text.replace('"latchkey.io/mode":"native-sidecar"', '"latchkey.io/mode":"x"');
    const denied = await app.inject({ method: "POST", url: "/mutate", headers: { "content-type": "application/json" }, payload: refused });
    expect(denied.json<{ response: unknown }>().response).toEqual({
      uid: "u-1",
      allowed: false,
      status: { code: 400, message: 'latchkey: latchkey.io/mode must be one of init, sidecar, native-sidecar, not "x"' },
    });
  });

  it.each([
    ["not json", "{", 400, "the body is not valid JSON"],
    ["not json, holding a value", '{"env":[{"name":"DB_PASSWORD","value":"hunter2-s3cret"}', 400, "the body is not valid JSON"],
    ["empty", "", 400, "the body is empty; an AdmissionReview was expected"],
    ["wrong version", { apiVersion: "v1", kind: "AdmissionReview" }, 400, "malformed AdmissionReview: apiVersion must be one of admission.k8s.io/v1, admission.k8s.io/v1beta1"],
    ["wrong kind", { apiVersion: "admission.k8s.io/v1", kind: "Pod" }, 400, 'malformed AdmissionReview: kind must be "AdmissionReview"'],
    ["no request", { apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview" }, 400, "malformed AdmissionReview: request is missing"],
    ["no uid", { apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", request: {} }, 400, "malformed AdmissionReview: request.uid is missing"],
    ["array", [], 400, "malformed AdmissionReview: the body must be a JSON AdmissionReview object"],
  ])("answers a malformed review (%s) with 400 and a clear message", async (_name, payload, status, message) => {
    const res = await app.inject({
      method: "POST",
      url: "/mutate",
      headers: { "content-type": "application/json" },
      payload: typeof payload === "string" ? payload : JSON.stringify(payload),
    });
    expect(res.statusCode).toBe(status);
    expect(res.json()).toEqual({ errors: [message] });
  });

  it("answers a wrong route, method, media type or size with a clear 4xx", async () => {
    expect(await app.inject({ method: "GET", url: "/nope" }).then((r) => [r.statusCode, r.json()])).toEqual([404, { errors: ["no route GET /nope"] }]);
    const wrong = await app.inject({ method: "GET", url: "/mutate" });
    expect([wrong.statusCode, wrong.headers["allow"], wrong.json()]).toEqual([405, "POST", { errors: ["/mutate takes POST, not GET"] }]);
    const body = JSON.stringify(review("admission.k8s.io/v1", optedIn));
    for (const type of ["text/plain", "application/json; charset=latin1"]) {
      const res = await app.inject({ method: "POST", url: "/mutate", headers: { "content-type": type }, payload: body });
      expect([res.statusCode, res.json()]).toEqual([415, { errors: [`the body must be application/json (UTF-8), not "${type}"`] }]);
    }
    const utf8 = await app.inject({ method: "POST", url: "/mutate", headers: { "content-type": "Application/JSON; charset=UTF-8" }, payload: body });
    expect(utf8.statusCode).toBe(200);
    const big = await app.inject({ method: "POST", url: "/mutate", headers: { "content-type": "application/json" }, payload: " ".repeat(BODY_LIMIT + 1) });
    expect([big.statusCode, big.json()]).toEqual([413, { errors: [`the body is over ${BODY_LIMIT} bytes`] }]);
  });

  it("answers a body that stops arriving with 408 and closes the connection", async () => {
    const { port } = server.address() as AddressInfo;
    const socket = connect({ host: "127.0.0.1", port, ca });
    let received = "";
    socket.on("data", (chunk: Buffer) => (received += chunk.toString("utf8")));
    // Closed by the server within the timeout and the once-a-second check, or given up on after 15 s.
    const closed = new Promise<boolean>((resolve) => {
      socket.once("close", () => resolve(true));
      setTimeout(() => resolve(false), 15_000).unref();
    });
    socket.write('POST /mutate HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"apiVersion":');
    const byServer = await closed;
    socket.destroy();
    expect(received).toMatch(/^HTTP\/1\.1 408 /);
    expect(byServer).toBe(true);
  }, 30_000);

  it("serves healthz and metrics counting reviews, injections and latency", async () => {
    expect((await app.inject({ method: "GET", url: "/healthz" })).json()).toEqual({ ok: true });
    const text = (await app.inject({ method: "GET", url: "/metrics" })).body;
    expect(text).toMatch(/latchkey_injector_reviews_total\{result="injected"\} 4/);
    expect(text).toMatch(/latchkey_injector_reviews_total\{result="malformed"\} \d+/);
    expect(text).toMatch(/latchkey_injector_injections_total 4/);
    expect(text).toMatch(/latchkey_injector_review_duration_seconds_count \d+/);
  });
});
