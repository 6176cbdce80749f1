import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Request } from "autocannon";
import { BENCH_DIST, spawnNode } from "./processes.js";

/**
 * One load run: autocannon in a process of its own (pinned to the load CPU),
 * against a server in another. Requests are either one static request or
 * built by a module the load process imports (`dynamic`), for bodies and
 * paths that change per request.
 */
export interface LoadSpec {
  /** `http://127.0.0.1:port` */
  url: string;
  connections: number;
  durationS: number;
  warmupS: number;
  request?: Request;
  /** A compiled module (file URL) whose export `name`, called with `args`, returns autocannon requests. */
  dynamic?: { module: string; name: string; args: unknown };
  /** PEM of the CA that signed an https target's certificate. */
  tlsCa?: string;
  /** The process under test, whose CPU time the load process samples over the measured window. */
  serverPid?: number;
}

export interface LoadResult {
  /** 2xx responses per second over the measured window. */
  ops_per_s: number;
  p50_ms: number;
  p99_ms: number;
  ok: number;
  /** Non-2xx responses, connection errors and timeouts: a scenario with any is reported, not silently averaged. */
  failures: number;
  statusCodes: Record<string, number>;
  durationS: number;
  /** CPU use of each process over the measured window, in cores (1.0 = one core busy). */
  serverCpu: number | null;
  loadCpu: number;
  /** Every process of the machine together: well above serverCpu + loadCpu means something else was running. */
  machineCpu: number | null;
}

/** A module loaded by the load process builds the requests for a `dynamic` spec. */
export type RequestFactory = (args: never) => Request[];

export async function runLoad(spec: LoadSpec, opts: { cpus: string | null; workDir: string }): Promise<LoadResult> {
  const specFile = join(opts.workDir, `load-${Date.now()}.json`);
  const resultFile = `${specFile}.result`;
  writeFileSync(specFile, JSON.stringify(spec));
  const worker = spawnNode([join(BENCH_DIST, "lib", "load-worker.js"), specFile, resultFile], { cpus: opts.cpus });
  const code = await new Promise<number | null>((resolve) => worker.proc.once("exit", (c) => resolve(c)));
  if (code !== 0) throw new Error(`load generator exited with ${code}:\n${worker.output()}`);
  const result = JSON.parse(readFileSync(resultFile, "utf8")) as LoadResult;
  if (result.ok === 0) {
    throw new Error(`no successful responses: ${JSON.stringify(result.statusCodes)}\n${worker.output()}`);
  }
  return result;
}
