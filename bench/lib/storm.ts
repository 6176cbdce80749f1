import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BENCH_DIST, spawnNode } from "./processes.js";

/**
 * A storm: every pod's requests released at the same instant and sent over a
 * fixed number of connections, as when a node drains and its pods restart
 * together. Each pod either logs in to latchkey and reads one secret with the
 * token it got (`login-read`), or is one TokenReview posted straight to the
 * API server (`tokenreview`), the storm's ceiling.
 */
export interface StormSpec {
  kind: "login-read" | "tokenreview";
  /** `http(s)://host:port` */
  url: string;
  connections: number;
  /** One service-account JWT per pod. */
  jwts: string[];
  /** PEM of the CA of an https target. */
  tlsCa?: string;
  /** tokenreview: the reviewer's bearer token. */
  reviewerJwt?: string;
  /** login-read: the role logged in to, and how many secrets (secret/data/app/s<n>) pod n reads round. */
  role?: string;
  secrets?: number;
}

export interface StormResult {
  pods: number;
  /** From the release until the last pod had its secret (or its review). */
  total_s: number;
  /** Per pod, from the release until it had its secret: what a restarting pod waits. */
  p50_ms: number;
  p99_ms: number;
  /** Per pod, from its first request being sent until it had its secret: the service time without the queue. */
  own_p99_ms: number;
  failures: number;
  /** The first few failures, for the log. */
  errors: string[];
}

/** Runs one storm from a process pinned to `cpus` (the load CPU). */
export async function runStorm(spec: StormSpec, opts: { cpus: string | null; workDir: string }): Promise<StormResult> {
  const specFile = join(opts.workDir, `storm-${spec.kind}-${Date.now()}.json`);
  const resultFile = `${specFile}.result`;
  writeFileSync(specFile, JSON.stringify(spec));
  const worker = spawnNode([join(BENCH_DIST, "lib", "storm-worker.js"), specFile, resultFile], { cpus: opts.cpus });
  const code = await new Promise<number | null>((resolve) => worker.proc.once("exit", (c) => resolve(c)));
  if (code !== 0) throw new Error(`storm process exited with ${code}:\n${worker.output()}`);
  return JSON.parse(readFileSync(resultFile, "utf8")) as StormResult;
}
