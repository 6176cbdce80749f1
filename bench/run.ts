// `npm run bench [-- --quick] [-- --only a,b] [-- --cpu-prof]`: runs the scenarios,
// prints the table, writes bench/results.json (and, after a full run, bench/RESULTS.md).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { machineInfo } from "./lib/machine.js";
import { choosePinning, killAll, REPO } from "./lib/processes.js";
import { textTable, updateResultsMarkdown, type ResultsFile } from "./lib/report.js";
import type { BenchContext, BenchSettings, ScenarioResult } from "./lib/types.js";
import { SCENARIOS } from "./scenarios/index.js";

const { values: flags } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    only: { type: "string" },
    "cpu-prof": { type: "boolean", default: false },
    out: { type: "string" },
    "keep-tmp": { type: "boolean", default: false },
  },
});

const quick = flags.quick === true;
const settings: BenchSettings = {
  quick,
  durationS: quick ? 4 : 20,
  warmupS: quick ? 1 : 5,
  connections: 32,
  tokens: quick ? { total: 20_000, expiring: 5_000 } : { total: 1_000_000, expiring: 100_000 },
  cpus: choosePinning(cpus().length),
};

const only = flags.only ? new Set(flags.only.split(",").map((s) => s.trim())) : undefined;
for (const name of only ?? []) {
  if (!SCENARIOS.some((s) => s.name === name)) {
    process.stderr.write(`unknown scenario "${name}"; known: ${SCENARIOS.map((s) => s.name).join(", ")}\n`);
    process.exit(2);
  }
}

const tmpRoot = join(REPO, "bench", "tmp");
mkdirSync(tmpRoot, { recursive: true });
const runDir = mkdtempSync(join(tmpRoot, "run-"));
if (flags["cpu-prof"]) {
  settings.cpuProfDir = join(tmpRoot, "profiles");
  mkdirSync(settings.cpuProfDir, { recursive: true });
}

const cleanUp = () => {
  killAll();
  if (!flags["keep-tmp"]) rmSync(runDir, { recursive: true, force: true });
};
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    cleanUp();
    process.exit(130);
  });
}

const log = (message: string) => process.stdout.write(`${message}\n`);
const started = Date.now();
log(
  `latchkey bench (${quick ? "quick" : "full"}): ${settings.connections} connections, ${settings.warmupS}s warm-up + ` +
    `${settings.durationS}s per scenario; server on CPU ${settings.cpus?.server ?? "any"}, load on CPU ${settings.cpus?.load ?? "any"}`,
);

const results = new Map<string, ScenarioResult>();
const skipped: { name: string; reason: string }[] = [];
for (const scenario of SCENARIOS) {
  if (only && !only.has(scenario.name)) continue;
  const reason = await scenario.unavailable?.(settings);
  if (reason) {
    log(`- ${scenario.name}: skipped (${reason})`);
    skipped.push({ name: scenario.name, reason });
    continue;
  }
  const workDir = join(runDir, scenario.name);
  mkdirSync(workDir, { recursive: true });
  const deferred: (() => Promise<void> | void)[] = [];
  const ctx: BenchContext = { settings, workDir, results, defer: (fn) => deferred.push(fn), log };
  const t0 = Date.now();
  log(`- ${scenario.name} ...`);
  try {
    const m = await scenario.run(ctx);
    const ratioTo = (name: string | undefined) => {
      const base = name ? results.get(name) : undefined;
      return base && base.ops_per_s > 0 ? Math.round((m.ops_per_s / base.ops_per_s) * 1000) / 1000 : null;
    };
    const result: ScenarioResult = {
      name: scenario.name,
      ops_per_s: m.ops_per_s,
      p50_ms: m.p50_ms,
      p99_ms: m.p99_ms,
      peak_rss_mb: m.peak_rss_mb,
      baseline: scenario.baseline ?? null,
      ratio: ratioTo(scenario.baseline),
      floor: scenario.floor ?? null,
      floor_ratio: ratioTo(scenario.floor),
      ...(m.details && { details: m.details }),
    };
    results.set(scenario.name, result);
    log(`  ${Math.round(result.ops_per_s)} ops/s, p99 ${result.p99_ms ?? "—"} ms (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
  } catch (err) {
    log(`  failed: ${(err as Error).stack ?? String(err)}`);
    skipped.push({ name: scenario.name, reason: `failed: ${(err as Error).message.split("\n")[0]}` });
  } finally {
    for (const fn of deferred.reverse()) await Promise.resolve(fn()).catch(() => undefined);
    if (!flags["keep-tmp"]) rmSync(workDir, { recursive: true, force: true });
  }
}
cleanUp();

const file: ResultsFile = {
  machine: machineInfo(),
  scenarios: [...results.values()],
  run: {
    date: new Date().toISOString(),
    quick,
    duration_s: settings.durationS,
    warmup_s: settings.warmupS,
    connections: settings.connections,
    cpu_pinning: settings.cpus,
    skipped,
  },
};
// A partial run (--only) must not overwrite the committed results of a full one.
const out = flags.out ?? (only ? join(tmpRoot, "results-only.json") : join(REPO, "bench", "results.json"));
writeFileSync(out, JSON.stringify(file, null, 2) + "\n");
if (!quick && !only && !flags.out) updateResultsMarkdown(join(REPO, "bench", "RESULTS.md"), file, SCENARIOS);

log("");
log(textTable(file.scenarios, SCENARIOS));
log("");
log(`ratio = ops/s ÷ the baseline's ops/s, of floor = ops/s ÷ the floor's ops/s, both measured in this run. Wrote ${out} (${((Date.now() - started) / 1000).toFixed(0)} s).`);
if (settings.cpuProfDir) log(`CPU profiles of the processes under test: ${settings.cpuProfDir}`);
