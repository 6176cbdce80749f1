import { serviceAccountJwts, serveJwks } from "../lib/jwks.js";
import { kubernetesAuthMissing, loginLoad, mountKubernetesAuth } from "../lib/k8s.js";
import { mountKv, seedSecrets } from "../lib/kv.js";
import type { LatchkeyServer } from "../lib/latchkey.js";
import { runLoad, type LoadSpec } from "../lib/load.js";
import { startPgReplicas, useTestDatabase } from "../lib/pg.js";
import { peakRssMb } from "../lib/processes.js";
import type { BenchContext, Measurement, Scenario } from "../lib/types.js";
import { JWKS_PODS } from "./k8s-login-jwks-service.js";

/**
 * One load process per replica, all at once, the run's connections split
 * evenly between them: throughput is the sum; p50/p99 are the worst replica's.
 * Every replica is pinned to the server CPU, so two replicas have the CPU one
 * had: the figure is what the shared database and the cross-replica
 * invalidations cost, not how far more machines scale.
 */
async function measureReplicas(
  ctx: BenchContext,
  servers: LatchkeyServer[],
  dynamic: (server: LatchkeyServer) => NonNullable<LoadSpec["dynamic"]>,
): Promise<Measurement> {
  const { settings } = ctx;
  const connections = Math.max(1, Math.floor(settings.connections / servers.length));
  const loads = await Promise.all(
    servers.map((server) =>
      runLoad(
        {
          url: server.address,
          dynamic: dynamic(server),
          connections,
          durationS: settings.durationS,
          warmupS: settings.warmupS,
          serverPid: server.process.pid,
        },
        { cpus: settings.cpus?.load ?? null, workDir: ctx.workDir },
      ),
    ),
  );
  const failures = loads.reduce((n, l) => n + l.failures, 0);
  if (failures > 0) ctx.log(`  ${failures} failed requests: ${JSON.stringify(loads.map((l) => l.statusCodes))}`);
  return {
    ops_per_s: loads.reduce((n, l) => n + l.ops_per_s, 0),
    p50_ms: Math.max(...loads.map((l) => l.p50_ms)),
    p99_ms: Math.max(...loads.map((l) => l.p99_ms)),
    peak_rss_mb: Math.max(...servers.map((s) => peakRssMb(s.process.pid) ?? 0)),
    details: {
      replicas: servers.length,
      connections_per_replica: connections,
      requests: loads.reduce((n, l) => n + l.ok, 0),
      failures,
      ops_per_s_by_replica: loads.map((l) => Math.round(l.ops_per_s)),
      server_cpu_cores: loads.map((l) => l.serverCpu),
    },
  };
}

/** Polls until `address` answers `path` with 200 (a replica sees what another wrote). */
async function until(address: string, path: string, init: RequestInit): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const res = await fetch(`${address}/v1/${path}`, init).catch(() => undefined);
    await res?.arrayBuffer();
    if (res?.status === 200) return;
    if (Date.now() > deadline) throw new Error(`${address} still answers ${res?.status} to ${path}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function kvRead(replicas: number): Scenario {
  return {
    name: `kv-v2-read-pg-${replicas}`,
    about: `GET secret/data/app/s<n>, ${replicas} replica${replicas > 1 ? "s" : ""} on one PostgreSQL schema (load split between them)`,
    baseline: replicas === 1 ? "kv-v2-read-sqlite" : "kv-v2-read-pg-1",
    unavailable: async () => useTestDatabase(),
    async run(ctx) {
      const servers = await startPgReplicas(ctx, replicas, `kv-v2-read-pg-${replicas}`);
      const token = await mountKv(servers[0]);
      await seedSecrets(servers[0].address, token);
      for (const s of servers) await until(s.address, "secret/data/app/s0", { headers: { "x-vault-token": token } });
      return measureReplicas(ctx, servers, () => ({ module: new URL("./kv-v2-read-sqlite.js", import.meta.url).href, name: "readRequests", args: { token } }));
    },
  };
}

function jwksLogin(replicas: number): Scenario {
  return {
    name: `k8s-login-jwks-service-pg-${replicas}`,
    about: `POST auth/kubernetes/login (jwks, service tokens: a token and a lease written per login), ${replicas} replica${replicas > 1 ? "s" : ""} on PostgreSQL`,
    baseline: replicas === 1 ? "k8s-login-jwks-service" : "k8s-login-jwks-service-pg-1",
    unavailable: async () => (await kubernetesAuthMissing()) ?? useTestDatabase(),
    async run(ctx) {
      const { jwts, publicJwk } = await serviceAccountJwts(JWKS_PODS);
      const jwks = await serveJwks(publicJwk);
      ctx.defer(() => jwks.close());
      const servers = await startPgReplicas(ctx, replicas, `k8s-login-jwks-service-pg-${replicas}`);
      await mountKubernetesAuth(servers[0], { validation: "jwks", jwks_url: jwks.url }, { token_type: "service" });
      const body = JSON.stringify({ role: "app", jwt: jwts[0] });
      for (const s of servers) await until(s.address, "auth/kubernetes/login", { method: "POST", body, headers: { "content-type": "application/json" } });
      return measureReplicas(ctx, servers, () => loginLoad(jwts));
    },
  };
}

export const kvV2ReadPg1 = kvRead(1);
export const kvV2ReadPg2 = kvRead(2);
export const k8sLoginJwksServicePg1 = jwksLogin(1);
export const k8sLoginJwksServicePg2 = jwksLogin(2);
