import { runLoad, type LoadSpec } from "./load.js";
import { peakRssMb, type BenchProcess } from "./processes.js";
import type { BenchContext, Measurement } from "./types.js";

/**
 * Drives `target` with the run's connections, warm-up and duration and returns
 * throughput, latency, the target's peak RSS, and the CPU each side used (a
 * load generator near 1.0 core means the figure is the generator's ceiling).
 */
export async function measureHttp(
  ctx: BenchContext,
  target: Pick<BenchProcess, "pid">,
  spec: Pick<LoadSpec, "url" | "request" | "dynamic" | "tlsCa">,
): Promise<Measurement> {
  const { settings } = ctx;
  const load = await runLoad(
    {
      ...spec,
      connections: settings.connections,
      durationS: settings.durationS,
      warmupS: settings.warmupS,
      serverPid: target.pid,
    },
    { cpus: settings.cpus?.load ?? null, workDir: ctx.workDir },
  );
  if (load.failures > 0) ctx.log(`  ${load.failures} failed requests: ${JSON.stringify(load.statusCodes)}`);
  return {
    ops_per_s: load.ops_per_s,
    p50_ms: load.p50_ms,
    p99_ms: load.p99_ms,
    peak_rss_mb: peakRssMb(target.pid),
    details: {
      requests: load.ok,
      failures: load.failures,
      ...(load.failures > 0 && { status_codes: load.statusCodes }),
      server_cpu_cores: load.serverCpu,
      load_cpu_cores: load.loadCpu,
      other_cpu_cores:
        load.machineCpu === null ? null : Math.max(0, Math.round((load.machineCpu - load.loadCpu - (load.serverCpu ?? 0)) * 100) / 100),
    },
  };
}
