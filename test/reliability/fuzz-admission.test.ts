import fc from "fast-check";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { Agent, request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { JsonPatchOp } from "../../src/injector/patch.js";
import { startInjector, type RunningInjector } from "../../src/injector/run.js";
import { applyPatch } from "../../src/injector/test-harness.js";
import { generatePair } from "../../src/injector/tls.js";
import { liveHeapMb } from "../helpers/memory.js";

const SEED = 15;
const CASES = 2000;
const VERSIONS = ["admission.k8s.io/v1", "admission.k8s.io/v1beta1"];
/** Over the injector's 4 MiB body limit (the API server itself sends at most 3 MiB). */
const OVERSIZED = 5 * 1024 * 1024;

const annotationKey = fc.oneof(
  fc.constantFrom("inject", "role", "mode", "auth-path", "on-change", "refresh-interval", "agent-cpu", "agent-memory", "run-as-user", "status", "agent-image"),
  fc.string({ maxLength: 8 }).map((s) => `inject-secret-${s}`),
  fc.constantFrom("inject-template-db", "inject-file-db", "inject-perms-db", "inject-secret-db", "inject-secret-a/b", "inject-secret-~1"),
);
const annotationValue = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.constantFrom("true", "false", "app", "sidecar", "native-sidecar", "init", "SIGHUP", "secret/data/db", "30s", "-1s", "0640", "auth/kubernetes", "100m", "64Mi", "1000"),
);
const maybeWrong = <T>(arb: fc.Arbitrary<T>) => fc.oneof({ weight: 8, arbitrary: arb }, { weight: 1, arbitrary: fc.anything({ maxDepth: 2 }) });
const container = fc.record(
  {
    name: maybeWrong(fc.oneof(fc.constantFrom("app", "latchkey-init", "latchkey-agent", "web"), fc.string({ maxLength: 6 }))),
    image: maybeWrong(fc.string({ maxLength: 6 })),
    command: maybeWrong(fc.array(fc.string({ maxLength: 6 }), { maxLength: 3 })),
    args: maybeWrong(fc.array(fc.string({ maxLength: 6 }), { maxLength: 2 })),
    env: maybeWrong(fc.array(fc.record({ name: fc.string({ maxLength: 4 }), value: fc.oneof(fc.string(), fc.constant("latchkey:secret/data/x#k")) }), { maxLength: 2 })),
    volumeMounts: maybeWrong(
      fc.array(fc.record({ name: fc.string({ maxLength: 6 }), mountPath: fc.constantFrom("/data", "/var/run/secrets/kubernetes.io/serviceaccount", "/latchkey/secrets") }), { maxLength: 2 }),
    ),
  },
  { requiredKeys: [] },
);
const pod = fc.record(
  {
    apiVersion: fc.constantFrom("v1", "x"),
    kind: fc.constantFrom("Pod", "Deployment"),
    metadata: maybeWrong(
      fc.record(
        {
          name: maybeWrong(fc.string({ maxLength: 8 })),
          generateName: fc.string({ maxLength: 6 }),
          namespace: fc.constantFrom("team", "kube-system", "latchkey"),
          annotations: maybeWrong(fc.dictionary(annotationKey.map((k) => `latchkey.io/${k}`), maybeWrong(annotationValue), { maxKeys: 6 })),
          labels: maybeWrong(fc.constantFrom({ "latchkey.io/inject": "true" }, { "latchkey.io/inject": "false" }, {})),
        },
        { requiredKeys: [] },
      ),
    ),
    spec: maybeWrong(
      fc.record(
        {
          serviceAccountName: fc.string({ maxLength: 6 }),
          containers: maybeWrong(fc.array(container, { maxLength: 3 })),
          initContainers: maybeWrong(fc.array(container, { maxLength: 2 })),
          volumes: maybeWrong(fc.array(fc.record({ name: fc.string({ maxLength: 6 }) }), { maxLength: 2 })),
          shareProcessNamespace: maybeWrong(fc.boolean()),
        },
        { requiredKeys: [] },
      ),
    ),
  },
  { requiredKeys: [] },
);
/** An opted-in pod that asks for a secret, with a few more annotations that may or may not be valid. */
const optedInPod = fc
  .tuple(fc.dictionary(annotationKey.map((k) => `latchkey.io/${k}`), annotationValue, { maxKeys: 1 }), fc.array(container, { maxLength: 1 }), fc.constantFrom("init", "sidecar", "native-sidecar"))
  .map(([extra, more, mode]) => ({
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: "app",
      labels: { "latchkey.io/inject": "true" },
      annotations: { "latchkey.io/role": "app", "latchkey.io/inject-secret-db": "secret/data/db", "latchkey.io/mode": mode, ...extra },
    },
    spec: { serviceAccountName: "app", containers: [{ name: "app", image: "app:1", command: ["/app"] }, ...more.map((c, i) => ({ ...c, name: `c${i}` }))] },
  }));
/** A review the API server could send: the right envelope, anything inside it. */
const wellFormed = fc.record({
  apiVersion: fc.constantFrom(...VERSIONS),
  kind: fc.constant("AdmissionReview"),
  request: fc.record(
    {
      uid: fc.oneof(fc.uuid(), fc.string({ minLength: 1, maxLength: 40 })),
      kind: maybeWrong(fc.record({ group: fc.constant(""), version: fc.constant("v1"), kind: fc.constantFrom("Pod", "Pod", "Pod", "Deployment", "Secret") })),
      resource: fc.record({ group: fc.constant(""), version: fc.constant("v1"), resource: fc.constant("pods") }),
      subResource: fc.constantFrom("status", "ephemeralcontainers"),
      operation: maybeWrong(fc.constantFrom("CREATE", "CREATE", "CREATE", "UPDATE", "DELETE", "CONNECT")),
      namespace: maybeWrong(fc.constantFrom("team", "kube-system", "latchkey", "")),
      name: fc.string({ maxLength: 8 }),
      object: fc.oneof({ weight: 4, arbitrary: pod }, { weight: 3, arbitrary: optedInPod }, { weight: 1, arbitrary: fc.anything({ maxDepth: 3 }) }),
      oldObject: fc.anything({ maxDepth: 2 }),
      dryRun: fc.boolean(),
      userInfo: fc.record({ username: fc.string({ maxLength: 8 }) }),
    },
    { requiredKeys: ["uid", "kind", "operation", "object"] },
  ),
});
/** Envelopes with a field removed or replaced by a value of another type. */
const mutatedEnvelope = fc
  .tuple(wellFormed, fc.constantFrom("apiVersion", "kind", "request", "request.uid", "request.kind", "request.object"), fc.option(fc.anything({ maxDepth: 2 }), { nil: undefined }))
  .map(([review, at, value]) => {
    const copy: Record<string, unknown> = structuredClone(review);
    const [head, tail] = at.split(".");
    const holder = (tail ? copy[head] : copy) as Record<string, unknown>;
    const key = tail ?? head;
    if (value === undefined) delete holder[key];
    else holder[key] = value;
    return copy;
  });

/**
 * Well-formed reviews with a `"__proto__"` member in one of their objects: JSON
 * in which it is an ordinary member, so the review must still be answered.
 */
const withProtoMember = fc.tuple(wellFormed.map((r) => JSON.stringify(r)), fc.nat()).map(([text, n]) => {
  const starts = [...text.matchAll(/\{"/g)].map((m) => m.index);
  const at = starts[n % starts.length] ?? 0;
  const poisoned = `${text.slice(0, at + 1)}"__proto__":{"polluted":true},${text.slice(at + 1)}`;
  try {
    return JSON.parse(poisoned) as unknown;
  } catch {
    // The brace was inside a string value.
    return JSON.parse(text.replace("{", '{"__proto__":{"polluted":true},')) as unknown;
  }
});

type Body = { kind: "json"; value: unknown } | { kind: "raw"; text: string; contentType?: string };
const body: fc.Arbitrary<Body> = fc.oneof(
  { weight: 6, arbitrary: wellFormed.map((value): Body => ({ kind: "json", value })) },
  { weight: 1, arbitrary: withProtoMember.map((value): Body => ({ kind: "json", value })) },
  { weight: 2, arbitrary: mutatedEnvelope.map((value): Body => ({ kind: "json", value })) },
  { weight: 1, arbitrary: fc.json({ maxDepth: 4 }).map((text): Body => ({ kind: "raw", text })) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(wellFormed.map((r) => JSON.stringify(r)), fc.nat(400), fc.nat(20), fc.constantFrom("{", "}", '"', ",", "[", "\\", "\u0000", "\uD800", "__proto__"))
      .map(([text, at, cut, extra]): Body => ({ kind: "raw", text: text.slice(0, at) + extra + text.slice(at + cut) })),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.string({ maxLength: 40 }), fc.constantFrom("text/plain", "application/yaml", "application/json; charset=latin1"))
      .map(([text, contentType]): Body => ({ kind: "raw", text, contentType })),
  },
);

/** Whether `review` has the envelope the injector must answer with an AdmissionReview. */
function isWellFormed(review: unknown): review is { apiVersion: string; request: { uid: string; object?: unknown } } {
  if (typeof review !== "object" || review === null || Array.isArray(review)) return false;
  const r = review as Record<string, unknown>;
  const req = r.request as Record<string, unknown> | undefined;
  return (
    typeof r.apiVersion === "string" &&
    VERSIONS.includes(r.apiVersion) &&
    r.kind === "AdmissionReview" &&
    typeof req === "object" &&
    req !== null &&
    !Array.isArray(req) &&
    typeof req.uid === "string" &&
    req.uid !== ""
  );
}

describe("fuzzing AdmissionReview bodies posted to a real latchkey injector", () => {
  const injectors: RunningInjector[] = [];
  let dispatcher: Agent;
  beforeAll(async () => {
    const pair = await generatePair(["127.0.0.1"], 3_600_000);
    const dir = mkdtempSync(join(tmpdir(), "latchkey-fuzz-admission-"));
    writeFileSync(join(dir, "tls.crt"), pair.cert);
    writeFileSync(join(dir, "tls.key"), pair.key);
    for (const nativeSidecars of ["on", "off"] as const) {
      const flags = {
        listen: "127.0.0.1:0",
        latchkeyAddr: "https://latchkey.latchkey.svc:8200",
        agentImage: "latchkey/latchkey:test",
        tlsCertFile: join(dir, "tls.crt"),
        tlsKeyFile: join(dir, "tls.key"),
        nativeSidecars,
        namespace: "latchkey",
        reconcileInterval: "0",
      };
      injectors.push(await startInjector(flags, pino({ level: "silent" })));
    }
    dispatcher = new Agent({ connect: { ca: pair.caPem } });
  }, 60_000);
  afterAll(async () => {
    await dispatcher?.close();
    for (const injector of injectors) await injector.close();
  });

  const post = async (injector: RunningInjector, payload: string, contentType = "application/json") => {
    const res = await request(`https://127.0.0.1:${injector.port}/mutate`, {
      method: "POST",
      headers: { "content-type": contentType },
      body: payload,
      dispatcher,
      headersTimeout: 10_000,
      bodyTimeout: 10_000,
    });
    return { status: res.statusCode, text: await res.body.text() };
  };

  it(`answers ${CASES} reviews: an AdmissionReview with the same uid for a well-formed one, a 4xx naming the problem otherwise`, async () => {
    const heapBefore = liveHeapMb();
    const results = new Map<string, number>();
    const count = (key: string) => results.set(key, (results.get(key) ?? 0) + 1);
    console.log(`fuzz-admission: seed ${SEED}`);
    await fc.assert(
      fc.asyncProperty(body, fc.nat(1), async (b, which) => {
        // As sent: UTF-8, in which a lone surrogate becomes U+FFFD.
        const text = Buffer.from(b.kind === "json" ? JSON.stringify(b.value) : b.text, "utf8").toString("utf8");
        const res = await post(injectors[which], text, b.kind === "raw" ? b.contentType : undefined);
        const shown = `${text.slice(0, 600)} -> ${res.status} ${res.text.slice(0, 600)}`;
        expect(res.status < 500, shown).toBe(true);
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = undefined;
        }
        if (res.status !== 200) {
          count(String(res.status));
          expect(isWellFormed(parsed) && b.kind === "json", `a well-formed review was refused: ${shown}`).toBe(false);
          const errors = (JSON.parse(res.text) as { errors?: unknown }).errors;
          expect(Array.isArray(errors) && typeof errors[0] === "string" && errors[0].length > 0, shown).toBe(true);
          return;
        }
        expect(isWellFormed(parsed), `answered 200 to a malformed review: ${shown}`).toBe(true);
        if (!isWellFormed(parsed)) return;
        const answer = JSON.parse(res.text) as { apiVersion: unknown; kind: unknown; response: Record<string, unknown> };
        expect(answer.apiVersion, shown).toBe(parsed.apiVersion);
        expect(answer.kind, shown).toBe("AdmissionReview");
        expect(answer.response.uid, shown).toBe(parsed.request.uid);
        expect(typeof answer.response.allowed, shown).toBe("boolean");
        if (answer.response.warnings !== undefined) {
          expect((answer.response.warnings as unknown[]).every((w) => typeof w === "string" && w.length > 0), shown).toBe(true);
        }
        if (!answer.response.allowed) {
          count("denied");
          const status = answer.response.status as { code?: unknown; message?: unknown } | undefined;
          expect(typeof status?.message === "string" && status.message.length > 0, shown).toBe(true);
          expect(answer.response.patch, shown).toBeUndefined();
          return;
        }
        if (answer.response.patch === undefined) {
          count("allowed");
          return;
        }
        count("patched");
        expect(answer.response.patchType, shown).toBe("JSONPatch");
        const ops = JSON.parse(Buffer.from(String(answer.response.patch), "base64").toString("utf8")) as JsonPatchOp[];
        expect(Array.isArray(ops), shown).toBe(true);
        const patched = applyPatch(parsed.request.object, ops) as { metadata: { annotations: Record<string, string> }; spec: { containers: { name: unknown }[]; initContainers?: { name: unknown }[] } };
        // The patched pod is JSON that survives a round trip, and has what an injected pod has.
        expect(JSON.parse(JSON.stringify(patched)), shown).toEqual(patched);
        expect(patched.metadata.annotations["latchkey.io/status"], shown).toBe("injected");
        expect(Array.isArray(patched.spec.containers), shown).toBe(true);
        for (const c of [...patched.spec.containers, ...(patched.spec.initContainers ?? [])]) expect(typeof c.name, shown).toBe("string");
      }),
      { seed: SEED, numRuns: CASES },
    );
    const grownMb = liveHeapMb() - heapBefore;
    console.log(`fuzz-admission: ${CASES} cases, answers ${JSON.stringify(Object.fromEntries(results))}, live heap grew ${grownMb.toFixed(1)} MiB`);
    expect(results.get("patched") ?? 0, "some cases must reach the patch builder").toBeGreaterThan(0);
    expect(({} as Record<string, unknown>)["polluted"], "a __proto__ member changed Object.prototype").toBeUndefined();
    expect(grownMb).toBeLessThan(64);
  }, 300_000);

  it("refuses an oversized body with 413 and keeps serving", async () => {
    const huge = JSON.stringify({ apiVersion: VERSIONS[0], kind: "AdmissionReview", request: { uid: "u", object: { pad: "x".repeat(OVERSIZED) } } });
    const res = await post(injectors[0], huge);
    expect(res.status).toBe(413);
    expect(res.text).toContain("errors");
    const ok = await post(injectors[0], JSON.stringify({ apiVersion: VERSIONS[0], kind: "AdmissionReview", request: { uid: "after", object: {} } }));
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.text).response.uid).toBe("after");
  }, 60_000);
});
