// The load-generator process: `node load-worker.js <spec.json> <result.json>`.
import { readFileSync, writeFileSync } from "node:fs";
import { createHistogram } from "node:perf_hooks";
import autocannon, { type Options, type Request, type Result } from "autocannon";
import type { LoadResult, LoadSpec } from "./load.js";
import { cpuSeconds, machineCpuSeconds, round } from "./processes.js";

const [specFile, resultFile] = process.argv.slice(2);
const spec = JSON.parse(readFileSync(specFile, "utf8")) as LoadSpec;

async function requests(): Promise<Request[]> {
  if (!spec.dynamic) return [spec.request ?? {}];
  const mod = (await import(spec.dynamic.module)) as Record<string, (args: unknown) => Request[]>;
  const factory = mod[spec.dynamic.name];
  if (typeof factory !== "function") throw new Error(`${spec.dynamic.module} does not export ${spec.dynamic.name}()`);
  return factory(spec.dynamic.args);
}

function run(opts: Options, onResponse?: (status: number, ms: number) => void): Promise<Result> {
  return new Promise((resolve, reject) => {
    const instance = autocannon(opts, (err, result) => (err ? reject(err) : resolve(result)));
    if (onResponse) {
      instance.on("response", (_client: unknown, status: number, _bytes: number, ms: number) => onResponse(status, ms));
    }
  });
}

const base: Options = {
  url: spec.url,
  connections: spec.connections,
  timeout: 30,
  requests: await requests(),
  ...(spec.tlsCa && { tlsOptions: { ca: spec.tlsCa } }),
};
if (spec.warmupS > 0) await run({ ...base, duration: spec.warmupS });

// autocannon's own histogram has whole-millisecond buckets; this one has microseconds.
const latencyUs = createHistogram();
const statusCodes: Record<string, number> = {};
const cpuBefore = spec.serverPid ? cpuSeconds(spec.serverPid) : null;
const ownBefore = process.cpuUsage();
const machineBefore = machineCpuSeconds();
const started = process.hrtime.bigint();
const result = await run({ ...base, duration: spec.durationS }, (status, ms) => {
  statusCodes[status] = (statusCodes[status] ?? 0) + 1;
  if (status >= 200 && status < 300) latencyUs.record(Math.max(1, Math.round(ms * 1000)));
});
const elapsedS = Number(process.hrtime.bigint() - started) / 1e9;
const cpuAfter = spec.serverPid ? cpuSeconds(spec.serverPid) : null;
const own = process.cpuUsage(ownBefore);
const machineAfter = machineCpuSeconds();

const ok = result["2xx"];
const out: LoadResult = {
  ops_per_s: round(ok / result.duration, 1),
  p50_ms: round(latencyUs.percentile(50) / 1000, 3),
  p99_ms: round(latencyUs.percentile(99) / 1000, 3),
  ok,
  failures: result.non2xx + result.errors + result.timeouts,
  statusCodes,
  durationS: round(result.duration, 2),
  serverCpu: cpuBefore !== null && cpuAfter !== null ? round((cpuAfter - cpuBefore) / elapsedS, 2) : null,
  loadCpu: round((own.user + own.system) / 1e6 / elapsedS, 2),
  machineCpu: machineBefore !== null && machineAfter !== null ? round((machineAfter - machineBefore) / elapsedS, 2) : null,
};
writeFileSync(resultFile, JSON.stringify(out));
