import { createHmac } from "node:crypto";
import fc from "fast-check";
import { CompactSign } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { LatchkeyError } from "../../core/errors.js";
import { HOST, type ClusterKeys, type K8sHarness, clusterKeys, createK8sHarness, projectedToken } from "./test-harness.js";

const SEED = 20_240_501;
const RUNS = 600;
/**
 * Per login call: catches a hang or a pathological parse (a login takes about a
 * millisecond), not speed, so it leaves room for a machine under heavy load.
 */
const TIME_BOUND_MS = 5_000;
const BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

let keys: ClusterKeys;
let attacker: ClusterKeys;
let h: K8sHarness;
let good: string;
let goodHeader: Record<string, unknown>;
let goodPayload: Record<string, unknown>;

const b64 = (text: string) => Buffer.from(text).toString("base64url");
const decode = (part: string) => JSON.parse(Buffer.from(part, "base64url").toString()) as Record<string, unknown>;

beforeAll(async () => {
  keys = await clusterKeys("RS256");
  attacker = await clusterKeys("ES256", "cluster-key-1");
  h = await createK8sHarness(keys);
  await h.write("config", { kubernetes_host: HOST, token_reviewer_jwt: "a.b.c" });
  await h.write("config/jwks", { kubernetes_host: HOST, validation: "jwks" });
  await h.write("role/demo", { bound_service_account_names: "*", bound_service_account_namespaces: "*" });
  await h.write("role/strict", {
    bound_service_account_names: "myapp",
    bound_service_account_namespaces: "default",
    bound_pod_names: "web-*",
    audience: "https://kubernetes.default.svc",
  });
  good = await projectedToken(keys, { pod: { name: "web-1", uid: "pod-uid" } });
  const [header, payload] = good.split(".");
  goodHeader = decode(header);
  goodPayload = decode(payload);
});

/** What to throw at login, as data (so fast-check can print and shrink it); `build` makes the JWT. */
type Mutation =
  | { kind: "raw"; jwt: string }
  | { kind: "unsigned"; alg: string; signature: string }
  | { kind: "hmac"; alg: string }
  | { kind: "attacker"; payloadJson: string }
  | { kind: "cluster-signed"; payloadJson: string }
  | { kind: "alg-swap"; alg: string }
  | { kind: "flip"; segment: number; position: number; char: string }
  | { kind: "edit"; position: number; text: string; replace: boolean };

/** A claim set in which one claim (by dotted path) is replaced by raw JSON text. */
function withClaim(path: string, json: string): string {
  const marker = "__LATCHKEY_MUTATION__";
  const copy = structuredClone(goodPayload);
  let target: Record<string, unknown> = copy;
  // "kubernetes.io" is one claim name with a dot in it.
  const keysOf = path.startsWith("kubernetes.io.") ? ["kubernetes.io", ...path.slice("kubernetes.io.".length).split(".")] : [path];
  for (const key of keysOf.slice(0, -1)) {
    const next = target[key];
    target = typeof next === "object" && next !== null && !Array.isArray(next) ? (next as Record<string, unknown>) : {};
  }
  target[keysOf[keysOf.length - 1]] = marker;
  return JSON.stringify(copy).replace(`"${marker}"`, json);
}

const CLAIMS: { path: string; accepts: (v: unknown) => boolean }[] = [
  { path: "kubernetes.io", accepts: isObject },
  { path: "kubernetes.io.namespace", accepts: (v) => typeof v === "string" },
  { path: "kubernetes.io.serviceaccount", accepts: isObject },
  { path: "kubernetes.io.serviceaccount.name", accepts: (v) => typeof v === "string" },
  { path: "kubernetes.io.serviceaccount.uid", accepts: (v) => typeof v === "string" },
  { path: "kubernetes.io.pod", accepts: (v) => isObject(v) || v === undefined },
  { path: "kubernetes.io.pod.name", accepts: (v) => typeof v === "string" },
  { path: "aud", accepts: (v) => typeof v === "string" || Array.isArray(v) },
  { path: "exp", accepts: (v) => typeof v === "number" },
  { path: "iat", accepts: (v) => typeof v === "number" },
  { path: "nbf", accepts: (v) => typeof v === "number" },
  { path: "iss", accepts: (v) => typeof v === "string" },
  { path: "sub", accepts: (v) => v === goodPayload.sub },
];

function isObject(v: unknown): boolean {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

const nested = (depth: number, kind: "array" | "object") =>
  kind === "array" ? "[".repeat(depth) + "]".repeat(depth) : '{"a":'.repeat(depth) + "1" + "}".repeat(depth);

const mutations: fc.Arbitrary<Mutation> = fc.oneof(
  // alg: none in its spellings, with and without a signature.
  fc.record({
    kind: fc.constant("unsigned" as const),
    alg: fc.constantFrom("none", "None", "NONE", ""),
    signature: fc.constantFrom("", "c2ln"),
  }),
  // HS256 "signed" with the cluster's public key as the HMAC secret (algorithm confusion).
  fc.record({ kind: fc.constant("hmac" as const), alg: fc.constantFrom("HS256", "HS384", "HS512") }),
  // A cluster signature presented under another algorithm.
  fc.record({ kind: fc.constant("alg-swap" as const), alg: fc.constantFrom("RS384", "RS512", "PS256", "ES256", "ES512") }),
  // Bad base64: foreign characters inserted or substituted anywhere.
  fc.record({
    kind: fc.constant("edit" as const),
    position: fc.nat(),
    text: fc.constantFrom("+", "/", "=", "!", " ", "\n", ".", "..", "%", "\u00e9", "\u0000"),
    replace: fc.boolean(),
  }),
  // Single-character changes inside a segment.
  fc.record({
    kind: fc.constant("flip" as const),
    segment: fc.integer({ min: 0, max: 2 }),
    position: fc.nat(),
    char: fc.constantFrom(...BASE64URL.split("")),
  }),
  // Huge claims, signed by someone else's key (under and over the size limit).
  fc.integer({ min: 100, max: 40_000 }).map((n): Mutation => ({ kind: "attacker", payloadJson: withClaim("pad", JSON.stringify("x".repeat(n))) })),
  fc.integer({ min: 1, max: 4_000 }).map((n): Mutation => ({ kind: "attacker", payloadJson: withClaim("aud", JSON.stringify(Array(n).fill("a"))) })),
  // Deeply nested claims, in places the parser reads and places it does not.
  fc
    .record({
      depth: fc.integer({ min: 1, max: 6_000 }),
      shape: fc.constantFrom("array" as const, "object" as const),
      path: fc.constantFrom("kubernetes.io", "kubernetes.io.serviceaccount", "aud", "extra"),
      signer: fc.constantFrom("attacker" as const, "cluster-signed" as const),
    })
    .filter((m) => !(m.signer === "cluster-signed" && m.path === "extra"))
    .map((m): Mutation => ({ kind: m.signer, payloadJson: withClaim(m.path, nested(m.depth, m.shape)) })),
  // Claims of the wrong type, validly signed by the cluster itself.
  fc
    .record({
      claim: fc.constantFrom(...CLAIMS),
      value: fc.oneof(fc.constantFrom(null, true, 0, -1, 1e308, "", "x", [], {}, [null], { name: 1 }), fc.jsonValue()),
    })
    .filter(({ claim, value }) => !claim.accepts(value))
    .map(({ claim, value }): Mutation => ({ kind: "cluster-signed", payloadJson: withClaim(claim.path, JSON.stringify(value) ?? "null") })),
  // Anything at all, signed by someone else.
  fc.jsonValue().map((value): Mutation => ({ kind: "attacker", payloadJson: JSON.stringify(value) ?? "null" })),
  // Arbitrary strings and JWT-shaped junk.
  fc.string({ maxLength: 300 }).map((jwt): Mutation => ({ kind: "raw", jwt })),
  fc
    .tuple(fc.jsonValue(), fc.jsonValue(), fc.stringMatching(/^[A-Za-z0-9_-]{0,64}$/))
    .map(([header, payload, sig]): Mutation => ({ kind: "raw", jwt: `${b64(JSON.stringify(header) ?? "")}.${b64(JSON.stringify(payload) ?? "")}.${sig}` })),
);

async function build(m: Mutation): Promise<string> {
  const [header, payload, signature] = good.split(".");
  const sign = (k: ClusterKeys, json: string) =>
    new CompactSign(new TextEncoder().encode(json)).setProtectedHeader({ alg: k.alg, kid: k.kid }).sign(k.privateKey);
  switch (m.kind) {
    case "raw":
      return m.jwt;
    case "unsigned":
      return `${b64(JSON.stringify({ ...goodHeader, alg: m.alg }))}.${payload}.${m.signature}`;
    case "hmac": {
      const head = b64(JSON.stringify({ alg: m.alg, typ: "JWT" }));
      const hash = `sha${m.alg.slice(2)}`;
      const mac = createHmac(hash, keys.publicKeyPem).update(`${head}.${payload}`).digest("base64url");
      return `${head}.${payload}.${mac}`;
    }
    case "alg-swap":
      return `${b64(JSON.stringify({ ...goodHeader, alg: m.alg }))}.${payload}.${signature}`;
    case "attacker":
      return sign(attacker, m.payloadJson);
    case "cluster-signed":
      return sign(keys, m.payloadJson);
    case "flip": {
      const parts = [header, payload, signature];
      const part = parts[m.segment];
      const at = m.position % part.length;
      parts[m.segment] = part.slice(0, at) + m.char + part.slice(at + 1);
      return parts.join(".");
    }
    case "edit": {
      const at = m.position % (good.length + 1);
      return good.slice(0, at) + m.text + good.slice(m.replace ? at + 1 : at);
    }
  }
}

/** A flip that leaves every segment decoding to the same bytes (base64url padding bits) is not a mutation. */
function changesTheToken(jwt: string): boolean {
  const a = jwt.split(".");
  const b = good.split(".");
  if (a.length !== 3) return true;
  return a.some((part, i) => !Buffer.from(part, "base64url").equals(Buffer.from(b[i], "base64url")) || /[^A-Za-z0-9_-]/.test(part));
}

async function statusOf(data: Record<string, unknown>): Promise<number> {
  try {
    await h.login(data);
    return 200;
  } catch (err) {
    if (err instanceof LatchkeyError) return err.status;
    throw err;
  }
}

describe("login under mutated JWTs (seeded property)", () => {
  it("logs the unmutated token in, in both validation modes (the property is not vacuous)", async () => {
    expect(await statusOf({ role: "demo", jwt: good })).toBe(200);
    expect(await statusOf({ role: "strict", jwt: good, config: "jwks" })).toBe(200);
  });

  it("answers 400 or 403, never anything else, within a time bound per call", async () => {
    const seen = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(
        mutations,
        fc.constantFrom("default", "jwks"),
        fc.constantFrom("demo", "strict"),
        async (mutation, config, role) => {
          const jwt = await build(mutation);
          fc.pre(changesTheToken(jwt));
          const started = performance.now();
          const status = await statusOf({ role, jwt, config });
          const elapsed = performance.now() - started;
          seen.set(status, (seen.get(status) ?? 0) + 1);
          expect([400, 403]).toContain(status);
          expect(elapsed).toBeLessThan(TIME_BOUND_MS);
        },
      ),
      { seed: SEED, numRuns: RUNS },
    );
    // Both kinds of refusal were exercised.
    expect(seen.get(400)).toBeGreaterThan(0);
    expect(seen.get(403)).toBeGreaterThan(0);
  }, 120_000);
});
