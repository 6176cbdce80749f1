import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { devServer, type DevServer } from "../helpers/server.js";

const CASES = 1000;
const b64 = (v: unknown) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");
const CLAIMS = {
  iss: "kubernetes/serviceaccount",
  sub: "system:serviceaccount:a:b",
  "kubernetes.io/serviceaccount/namespace": "a",
  "kubernetes.io/serviceaccount/service-account.name": "b",
  "kubernetes.io/serviceaccount/service-account.uid": "00000000-0000-0000-0000-000000000001",
};

describe("fuzzing JWT parsing in the Kubernetes auth login", () => {
  let server: DevServer;
  beforeAll(async () => {
    server = await devServer();
    const jwt = [b64({ alg: "RS256" }), b64(CLAIMS), b64("sig")].join(".");
    expect((await server.request("POST", "sys/auth/kubernetes", { body: { type: "kubernetes" } })).status).toBe(204);
    // Nothing listens on port 9: a JWT that parses reaches an unreachable API server.
    const conf = await server.request("POST", "auth/kubernetes/config", { body: { kubernetes_host: "http://127.0.0.1:9", token_reviewer_jwt: jwt } });
    expect(conf.status).toBe(204);
    const role = { bound_service_account_names: "*", bound_service_account_namespaces: "*" };
    expect((await server.request("POST", "auth/kubernetes/role/any", { body: role })).status).toBe(204);
  });
  afterAll(async () => server?.close());

  it(`answers ${CASES} mutated service-account JWTs with a 4xx or an upstream 502/503/504, never a 500`, async () => {
    const statuses = new Map<number, number>();
    const header = fc.oneof(fc.constant(b64({ alg: "RS256" })), fc.json({ maxDepth: 2 }).map(b64), fc.string({ maxLength: 20 }));
    const claims = fc.oneof(
      fc.record({ drop: fc.subarray(Object.keys(CLAIMS)), extra: fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }) })
        .map(({ drop, extra }) => b64({ ...Object.fromEntries(Object.entries(CLAIMS).filter(([k]) => !drop.includes(k))), ...extra })),
      fc.json({ maxDepth: 2 }).map(b64),
      fc.string({ maxLength: 30 }),
    );
    const sig = fc.oneof(fc.constant(b64("sig")), fc.string({ maxLength: 30 }), fc.uint8Array({ maxLength: 64 }).map((u) => Buffer.from(u).toString("base64url")));
    const jwt = fc.oneof(
      fc.tuple(header, claims, sig).map((parts) => parts.join(".")),
      fc.array(fc.string({ maxLength: 10 }), { maxLength: 5 }).map((p) => p.join(".")),
      fc.jsonValue({ maxDepth: 1 }),
    );
    await fc.assert(
      fc.asyncProperty(jwt, async (token) => {
        const res = await server.request("POST", "auth/kubernetes/login", { token: null, body: { role: "any", jwt: token } });
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        const ok = (res.status >= 400 && res.status < 500) || [502, 503, 504].includes(res.status);
        expect(ok, `${JSON.stringify(token)} -> ${res.status} ${res.text}`).toBe(true);
        expect(typeof token === "string" && token.length > 8 ? res.text.includes(token) : false).toBe(false);
      }),
      { seed: 15, numRuns: CASES },
    );
    console.log(`fuzz-jwt: ${CASES} cases, statuses ${JSON.stringify(Object.fromEntries(statuses))}`);
  }, 240_000);
});
