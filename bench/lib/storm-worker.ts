// The storm process: `node storm-worker.js <spec.json> <result.json>` (see storm.ts).
import { readFileSync, writeFileSync } from "node:fs";
import { Pool } from "undici";
import { round } from "./processes.js";
import type { StormResult, StormSpec } from "./storm.js";

const [specFile, resultFile] = process.argv.slice(2);
const spec = JSON.parse(readFileSync(specFile, "utf8")) as StormSpec;

const pool = new Pool(spec.url, {
  connections: spec.connections,
  pipelining: 1,
  ...(spec.tlsCa && { connect: { ca: spec.tlsCa } }),
});

async function call(method: "GET" | "POST", path: string, headers: Record<string, string>, body?: unknown): Promise<unknown> {
  const res = await pool.request({
    method,
    path,
    headers: { ...headers, ...(body !== undefined && { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.body.text();
  if (res.statusCode < 200 || res.statusCode >= 300) throw new Error(`${method} ${path}: ${res.statusCode} ${text.slice(0, 200)}`);
  return JSON.parse(text);
}

/** One pod's work; resolves when it has what it came for. */
async function pod(i: number): Promise<void> {
  const jwt = spec.jwts[i];
  if (spec.kind === "tokenreview") {
    const review = (await call("POST", "/apis/authentication.k8s.io/v1/tokenreviews", { authorization: `Bearer ${spec.reviewerJwt}` }, {
      apiVersion: "authentication.k8s.io/v1",
      kind: "TokenReview",
      spec: { token: jwt },
    })) as { status?: { authenticated?: boolean } };
    if (review.status?.authenticated !== true) throw new Error(`review ${i}: not authenticated`);
    return;
  }
  const login = (await call("POST", "/v1/auth/kubernetes/login", {}, { role: spec.role, jwt })) as { auth: { client_token: string } };
  await call("GET", `/v1/secret/data/app/s${i % (spec.secrets ?? 1)}`, { "x-vault-token": login.auth.client_token });
}

// Connections are opened before the release, so the storm measures requests, not TCP and TLS handshakes.
await Promise.all(
  Array.from({ length: spec.connections }, () =>
    pool
      .request({ method: "GET", path: "/healthz" })
      .then((r) => r.body.dump())
      .catch(() => undefined),
  ),
);

const fromRelease: number[] = [];
const own: number[] = [];
const errors: string[] = [];
let next = 0;
const released = performance.now();
// One worker per connection takes the next pod: pods beyond the connections wait their turn, as they would for a free connection.
await Promise.all(
  Array.from({ length: spec.connections }, async () => {
    while (next < spec.jwts.length) {
      const i = next++;
      const sent = performance.now();
      try {
        await pod(i);
        const done = performance.now();
        fromRelease.push(done - released);
        own.push(done - sent);
      } catch (err) {
        errors.push((err as Error).message);
      }
    }
  }),
);
const totalMs = performance.now() - released;
await pool.close();

const pct = (list: number[], p: number) => {
  if (list.length === 0) return 0;
  const sorted = [...list].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
};
const out: StormResult = {
  pods: spec.jwts.length,
  total_s: round(totalMs / 1000, 3),
  p50_ms: round(pct(fromRelease, 50), 1),
  p99_ms: round(pct(fromRelease, 99), 1),
  own_p99_ms: round(pct(own, 99), 1),
  failures: errors.length,
  errors: errors.slice(0, 5),
};
writeFileSync(resultFile, JSON.stringify(out));
