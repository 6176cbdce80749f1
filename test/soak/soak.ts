// `npm run soak [-- --minutes 30] [-- --rate 40] [-- --warmup 1]`: a built latchkey
// server on SQLite under a steady mixed load (token logins, Kubernetes logins when
// KUBE_HOST names a cluster, KV v2 reads and writes, short-TTL tokens revoked or
// left to expire) at a fixed rate; per minute it samples the server's RSS, its open
// file descriptors and the request latency. It exits 1 when the last minute's RSS or
// p99 is more than 10% above the first measured minute's (the warm-up minutes are
// left out of that comparison), when the descriptors grew, or on any error answer.
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Pool } from "undici";
import { mountKubernetesAuth } from "../../bench/lib/k8s.js";
import { api, startLatchkey, type LatchkeyServer } from "../../bench/lib/latchkey.js";
import { killAll, rssMb } from "../../bench/lib/processes.js";
import { reviewConfig, reviewFixture } from "../../bench/lib/tokenreview.js";
import type { BenchContext } from "../../bench/lib/types.js";

const { values: flags } = parseArgs({
  options: {
    minutes: { type: "string", default: "30" },
    rate: { type: "string", default: "40" },
    warmup: { type: "string", default: "1" },
  },
});
const minutes = Number(flags.minutes);
const rate = Number(flags.rate);
const warmup = Number(flags.warmup);
if (!Number.isInteger(minutes) || minutes < 2 || !(rate > 0) || !Number.isInteger(warmup) || warmup < 0 || warmup >= minutes - 1) {
  process.stderr.write("usage: npm run soak -- [--minutes N (>= 2)] [--rate requests/s] [--warmup minutes (< N - 1)]\n");
  process.exit(2);
}

/** Keep-alive connections to the server: the soak's own share of its descriptors, and the tolerance of "flat". */
const CONNECTIONS = 8;
/** Requests in flight at most; a tick that finds them all busy counts as a stall. */
const MAX_IN_FLIGHT = 256;
/** TTL of the tokens the soak logs in with: they expire and are revoked many times over during a run. */
const TOKEN_TTL_S = 15;
const KV_KEYS = 100;

interface Minute {
  requests: number;
  errors: number;
  /** Operations not sent because MAX_IN_FLIGHT were still waiting. */
  stalls: number;
  latencies: number[];
  rssMb: number | null;
  fds: number | null;
}

const workDir = mkdtempSync(join(tmpdir(), "latchkey-soak-"));
const deferred: (() => Promise<void> | void)[] = [];
const ctx: BenchContext = {
  settings: { quick: true, durationS: 0, warmupS: 0, connections: CONNECTIONS, tokens: { total: 0, expiring: 0 }, cpus: null },
  workDir,
  results: new Map(),
  defer: (fn) => deferred.push(fn),
  log: (message) => process.stdout.write(`${message}\n`),
};
const cleanUp = async () => {
  for (const fn of deferred.reverse()) await Promise.resolve(fn()).catch(() => undefined);
  rmSync(workDir, { recursive: true, force: true });
};
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    killAll();
    rmSync(workDir, { recursive: true, force: true });
    process.exit(130);
  });
}

const errorSamples: string[] = [];
const noteError = (what: string) => {
  if (errorSamples.length < 10) errorSamples.push(what.replace(/"(client_token|id)":"[^"]+"/g, '"$1":"…"'));
};

async function main(): Promise<number> {
  const server = await startLatchkey(ctx, { mode: "config", leaseTick: "1s" }, "soak");
  const { address, rootToken } = server;
  await api(address, "POST", "sys/mounts/secret", rootToken, { type: "kv", options: { version: "2" } });
  await api(address, "PUT", "sys/policies/acl/soak", rootToken, {
    policy: 'path "secret/data/soak/*" { capabilities = ["create", "read", "update"] }\npath "auth/token/create/soak" { capabilities = ["update"] }\n',
  });
  await api(address, "POST", "auth/token/roles/soak", rootToken, { allowed_policies: ["soak"], renewable: true });
  const kubeJwts = await kubernetesLogins(server);
  const worker = (await api<{ auth: { client_token: string } }>(address, "POST", "auth/token/create", rootToken, { policies: ["soak"], ttl: "48h" }))
    .auth.client_token;
  for (let k = 0; k < KV_KEYS; k++) await api(address, "POST", `secret/data/soak/k${k}`, worker, { data: { value: `v${k}` } });

  const pool = new Pool(address, { connections: CONNECTIONS });
  deferred.push(() => pool.close());
  const pid = server.process.pid;
  const series: Minute[] = Array.from({ length: minutes }, () => ({ requests: 0, errors: 0, stalls: 0, latencies: [], rssMb: null, fds: null }));
  const start = performance.now();
  const minuteNow = () => Math.min(minutes - 1, Math.floor((performance.now() - start) / 60_000));
  /** Tokens left to expire: [token, when it expires]; checked after their TTL to be refused. */
  const expiring: [string, number][] = [];
  let expiredChecked = 0;
  let serverExited = false;
  server.process.proc.once("exit", () => (serverExited = true));

  /** One request; any answer but `expect` (2xx by default) is an error, and so is a failed connection. */
  const call = async (method: "GET" | "POST", path: string, token: string, body?: unknown, expect?: number): Promise<Record<string, any> | undefined> => {
    const minute = series[minuteNow()];
    const t0 = performance.now();
    try {
      const res = await pool.request({
        path: `/v1/${path}`,
        method,
        headers: { "x-vault-token": token, ...(body !== undefined && { "content-type": "application/json" }) },
        body: body === undefined ? undefined : JSON.stringify(body),
        headersTimeout: 30_000,
        bodyTimeout: 30_000,
      });
      const text = await res.body.text();
      minute.latencies.push(performance.now() - t0);
      minute.requests++;
      const ok = expect === undefined ? res.statusCode >= 200 && res.statusCode < 300 : res.statusCode === expect;
      if (!ok) {
        minute.errors++;
        noteError(`${method} ${path} -> ${res.statusCode} ${text.slice(0, 200)}`);
        return undefined;
      }
      return text === "" ? {} : (JSON.parse(text) as Record<string, any>);
    } catch (err) {
      minute.requests++;
      minute.errors++;
      noteError(`${method} ${path} -> ${(err as Error).message}`);
      return undefined;
    }
  };

  const kv = () => `secret/data/soak/k${Math.floor(Math.random() * KV_KEYS)}`;
  let n = 0;
  /** The mix, per 20 operations: 8 KV reads, 4 KV writes, 4 token logins, 4 Kubernetes logins (token logins without a cluster). */
  const operation = async () => {
    const slot = n++ % 20;
    if (slot < 8) return void (await call("GET", kv(), worker));
    if (slot < 12) return void (await call("POST", kv(), worker, { data: { value: `v${n}`, at: Date.now() } }));
    const login =
      slot >= 16 && kubeJwts.length > 0
        ? await call("POST", "auth/kubernetes/login", "", { role: "app", jwt: kubeJwts[n % kubeJwts.length] })
        : await call("POST", "auth/token/create/soak", worker, { ttl: `${TOKEN_TTL_S}s` });
    const token: string | undefined = login?.auth?.client_token;
    if (!token) return;
    const loggedIn = Date.now();
    await call("GET", "auth/token/lookup-self", token);
    // Every other login is revoked by its holder; the rest expire and the expiration manager revokes them.
    if (slot % 2 === 0 && !(await call("POST", "auth/token/revoke-self", token, {}))) noteError(`  (the token was ${Date.now() - loggedIn} ms old, slot ${slot})`);
    else expiring.push([token, Date.now() + TOKEN_TTL_S * 1000]);
  };
  /** Tokens past their TTL (plus two lease ticks) must be refused: the leases expired and were revoked. */
  const checkExpired = async () => {
    while (expiring.length > 0 && expiring[0][1] + 2_000 < Date.now()) {
      const [token] = expiring.shift()!;
      if (expiredChecked++ % 10 === 0) await call("GET", "auth/token/lookup-self", token, undefined, 403);
    }
  };

  let issued = 0;
  let inFlight = 0;
  const durationMs = minutes * 60_000;
  let lastSampled = -1;
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const elapsed = performance.now() - start;
      const minute = Math.floor(elapsed / 60_000);
      if (minute !== lastSampled && minute > 0 && minute <= minutes) {
        // The end of a minute: its samples.
        sample(series[minute - 1], pid);
        lastSampled = minute;
        const m = series[minute - 1];
        ctx.log(`minute ${minute}: ${m.requests} requests, ${m.errors} errors, ${m.stalls} not sent, p99 ${fmt(percentile(m.latencies, 0.99))} ms, RSS ${m.rssMb} MiB, ${m.fds} fds`);
      }
      if (elapsed >= durationMs || serverExited) {
        clearInterval(tick);
        const drain = setInterval(() => {
          if (inFlight === 0) {
            clearInterval(drain);
            resolve();
          }
        }, 50);
        return;
      }
      void checkExpired();
      const due = Math.floor((elapsed / 1000) * rate) - issued;
      for (let i = 0; i < due; i++) {
        issued++;
        if (inFlight >= MAX_IN_FLIGHT) {
          series[minuteNow()].stalls++;
          continue;
        }
        inFlight++;
        void operation().finally(() => inFlight--);
      }
    }, 20);
  });
  if (lastSampled < minutes) sample(series[minutes - 1], pid);

  const measured = series.slice(warmup);
  const first = measured[0];
  const last = measured[measured.length - 1];
  const errors = series.reduce((sum, m) => sum + m.errors, 0);
  const requests = series.reduce((sum, m) => sum + m.requests, 0);
  const p99 = (m: Minute) => percentile(m.latencies, 0.99);
  const failures: string[] = [];
  if (serverExited) failures.push(`the server exited:\n${server.process.output()}`);
  if (errors > 0) failures.push(`${errors} error answers, e.g.:\n  ${errorSamples.join("\n  ")}`);
  const stalls = measured.reduce((sum, m) => sum + m.stalls, 0);
  if (stalls > 0) failures.push(`${stalls} operations after the warm-up found ${MAX_IN_FLIGHT} requests in flight and were not sent`);
  if (first.rssMb === null || last.rssMb === null || last.rssMb > first.rssMb * 1.1) failures.push(`RSS grew from ${first.rssMb} to ${last.rssMb} MiB (limit +10%)`);
  if (p99(last) > p99(first) * 1.1) failures.push(`p99 grew from ${fmt(p99(first))} to ${fmt(p99(last))} ms (limit +10%)`);
  if (first.fds === null || last.fds === null || last.fds > first.fds + CONNECTIONS) {
    failures.push(`open descriptors grew from ${first.fds} to ${last.fds} (limit +${CONNECTIONS}, the soak's connections)`);
  }

  ctx.log("");
  ctx.log(`soak: ${minutes} min at ${rate} ops/s, ${requests} requests, ${errors} errors, ${expiredChecked} tokens left to expire, ${kubeJwts.length > 0 ? "with" : "without"} Kubernetes logins`);
  ctx.log(`  warm-up minutes excluded from the comparison: ${warmup}`);
  ctx.log(`  RSS:  first ${first.rssMb} MiB, last ${last.rssMb} MiB`);
  ctx.log(`  p99:  first ${fmt(p99(first))} ms, last ${fmt(p99(last))} ms (p50 ${fmt(percentile(first.latencies, 0.5))} / ${fmt(percentile(last.latencies, 0.5))} ms)`);
  ctx.log(`  fds:  first ${first.fds}, last ${last.fds}, min ${Math.min(...measured.map((m) => m.fds ?? Infinity))}, max ${Math.max(...measured.map((m) => m.fds ?? 0))}`);
  ctx.log(failures.length === 0 ? "soak: PASS" : `soak: FAIL\n  ${failures.join("\n  ")}`);
  return failures.length === 0 ? 0 : 1;
}

/** With a cluster in the environment (KUBE_HOST), service accounts whose tokens log in through auth/kubernetes; else none. */
async function kubernetesLogins(server: LatchkeyServer): Promise<string[]> {
  if (!process.env.KUBE_HOST) {
    ctx.log("KUBE_HOST is not set: token logins only (eval \"$(bash scripts/k8s-test-cluster.sh env)\" adds Kubernetes logins)");
    return [];
  }
  const fx = await reviewFixture(ctx, { accounts: 4, tokensPerAccount: 5 });
  await mountKubernetesAuth(server, reviewConfig(fx, 0), { token_ttl: `${TOKEN_TTL_S}s`, token_policies: ["soak"] });
  return fx.jwts;
}

function sample(m: Minute, pid: number): void {
  m.rssMb = rssMb(pid);
  try {
    m.fds = readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    m.fds = null;
  }
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)];
}

const fmt = (ms: number) => (Number.isFinite(ms) ? ms.toFixed(1) : "-");

main()
  .then(async (code) => {
    await cleanUp();
    process.exit(code);
  })
  .catch(async (err: Error) => {
    process.stderr.write(`soak: ${err.stack ?? err.message}\n`);
    await cleanUp();
    process.exit(1);
  });
