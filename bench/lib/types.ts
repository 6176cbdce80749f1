/**
 * The contract between the runner and a scenario. A scenario is one module in
 * bench/scenarios/ that exports a `Scenario`; adding one is that module plus
 * one line in bench/scenarios/index.ts.
 */

/** What a scenario measured. Latencies and RSS are null when the scenario has none to report. */
export interface Measurement {
  /** Operations per second (requests, verifications, revocations: the scenario says which). */
  ops_per_s: number;
  p50_ms: number | null;
  p99_ms: number | null;
  /** Peak resident set of the process under test (VmHWM), MiB. */
  peak_rss_mb: number | null;
  /** Anything else worth keeping: start-up time, CPU use of each process, error counts, settings. */
  details?: Record<string, unknown>;
}

/** One row of bench/results.json. */
export interface ScenarioResult extends Measurement {
  name: string;
  /** The scenario (run earlier in the same pass) whose ops_per_s is the denominator of `ratio`. */
  baseline: string | null;
  ratio: number | null;
  /** The floor scenario (bare stack, only the unavoidable work; run earlier) whose ops_per_s is the denominator of `floor_ratio`. */
  floor: string | null;
  floor_ratio: number | null;
}

export interface BenchSettings {
  quick: boolean;
  /** Seconds of measured load per HTTP scenario. */
  durationS: number;
  /** Seconds of unmeasured load before it (JIT, SQLite page cache, connection set-up). */
  warmupS: number;
  /** Concurrent keep-alive connections of the load generator, the same for every scenario. */
  connections: number;
  /** Service tokens in tokens-1m, and how many of them come due together. */
  tokens: { total: number; expiring: number };
  /** CPU the process under test is pinned to, and the CPU of the load generator (null: no taskset). */
  cpus: { server: string; load: string } | null;
  /** Write a V8 CPU profile of every server process into this directory. */
  cpuProfDir?: string;
}

export interface BenchContext {
  settings: BenchSettings;
  /** A fresh directory for this scenario under bench/tmp/, removed after the run. */
  workDir: string;
  /** Results of the scenarios already run in this pass, by name. */
  results: ReadonlyMap<string, ScenarioResult>;
  /** Registers clean-up that runs after the scenario, even when it fails (last registered, first run). */
  defer(fn: () => Promise<void> | void): void;
  log(message: string): void;
}

export interface Scenario {
  /** Lower-case with dashes, as in issue 5's table. */
  name: string;
  /** One line on what is measured, for the printed table's legend and the README. */
  about: string;
  /** Name of the scenario this one is compared with; it must come earlier in the list. */
  baseline?: string;
  /** Name of the floor scenario doing only this request's unavoidable work on the same stack; it must come earlier too. */
  floor?: string;
  /** The goal from issue 5, if it sets one: printed beside the result (the harness reports, it never fails). */
  target?: { text: string; met(result: ScenarioResult): boolean };
  /** A reason to skip (prerequisites missing), or undefined to run. */
  unavailable?(settings: BenchSettings): Promise<string | undefined>;
  run(ctx: BenchContext): Promise<Measurement>;
}
