import { spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { serviceAccountJwts, serveJwks } from "../lib/jwks.js";
import { kubernetesAuthMissing, mountKubernetesAuth } from "../lib/k8s.js";
import { api, startLatchkey } from "../lib/latchkey.js";
import { cpuSeconds, peakRssMb, REPO, round, rssMb } from "../lib/processes.js";
import type { BenchContext, Measurement, Scenario } from "../lib/types.js";

/** The packaged executable, as the injector copies it into pods (`npm run package`). */
const EXECUTABLE = join(resolve(REPO, process.env.DIST_BIN || "dist-bin"), "latchkey", "latchkey");

function statusMb(pid: number, field: "RssAnon" | "RssFile"): number | null {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? round(Number(m[1]) / 1024, 1) : null;
}

/** Idle RSS of `argv` after `settleS`: a process doing nothing, for the floor Node.js itself sets. */
async function idleRss(argv: string[], settleS: number): Promise<number | null> {
  const child = spawn(argv[0] ?? "", argv.slice(1), { stdio: "ignore" });
  await sleep(settleS * 1000);
  const rss = child.pid === undefined ? null : rssMb(child.pid);
  child.kill();
  return rss;
}

/**
 * The packaged agent in `--mode sidecar` between refreshes: logged in (JWKS
 * validation, no API server), one secret rendered, then left alone while its
 * VmRSS and CPU ticks are read from /proc. The figure is the RSS an idle
 * sidecar keeps for its pod's whole life; CPU should be about nothing.
 */
export const agentIdle: Scenario = {
  name: "agent-idle",
  about: "packaged `latchkey agent --mode sidecar`, idle between refreshes: VmRSS (peak_rss is VmHWM) and CPU",
  target: { text: "RSS ≤ 48 MiB, CPU ≈ 0", met: (r) => Number(r.details?.rss_mb ?? Infinity) <= 48 && Number(r.details?.cpu_percent ?? Infinity) < 0.1 },
  async unavailable() {
    if (!existsSync(EXECUTABLE)) return `no packaged executable at ${EXECUTABLE} (npm run package)`;
    return kubernetesAuthMissing();
  },
  async run(ctx: BenchContext): Promise<Measurement> {
    const { jwts, publicJwk } = await serviceAccountJwts(1);
    const jwks = await serveJwks(publicJwk);
    ctx.defer(() => jwks.close());
    const server = await startLatchkey(ctx, { mode: "dev" }, "agent-idle");
    await mountKubernetesAuth(server, { validation: "jwks", jwks_url: jwks.url }, {});
    await api(server.address, "POST", "secret/data/app/db", server.rootToken, { data: { password: "bench-only" } });
    const tokenFile = join(ctx.workDir, "token");
    writeFileSync(tokenFile, jwts[0] ?? "", { mode: 0o600 });
    const ready = join(ctx.workDir, "ready");
    const agent = spawn(EXECUTABLE, [
      "agent", "--mode", "sidecar", "--addr", server.address, "--role", "app", "--token-file", tokenFile,
      "--secrets-dir", join(ctx.workDir, "secrets"), "--secret", "db=secret/data/app/db",
      "--refresh-interval", "10m", "--ready-file", ready,
    ], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    agent.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    ctx.defer(() => void agent.kill());
    const pid = agent.pid ?? 0;
    for (let i = 0; !existsSync(ready); i++) {
      if (agent.exitCode !== null || i > 600) throw new Error(`the agent did not render its secret:\n${stderr}`);
      await sleep(100);
    }
    // Start-up garbage is collected within a few seconds; the idle window starts after it.
    await sleep(5_000);
    const idleS = ctx.settings.quick ? 15 : 60;
    const cpu0 = cpuSeconds(pid) ?? 0;
    const samples: number[] = [];
    for (let s = 0; s < idleS; s++) {
      await sleep(1000);
      samples.push(rssMb(pid) ?? 0);
    }
    const cpu = (cpuSeconds(pid) ?? 0) - cpu0;
    const details = {
      idle_s: idleS,
      rss_mb: samples.at(-1) ?? null,
      rss_max_mb: Math.max(...samples),
      rss_anon_mb: statusMb(pid, "RssAnon"),
      rss_file_mb: statusMb(pid, "RssFile"),
      cpu_s: round(cpu, 3),
      cpu_percent: round((cpu / idleS) * 100, 3),
      node_idle_rss_mb: await idleRss([process.execPath, "-e", "setInterval(() => {}, 1e6)"], 3),
    };
    return { ops_per_s: 0, p50_ms: null, p99_ms: null, peak_rss_mb: peakRssMb(pid), details };
  },
};
