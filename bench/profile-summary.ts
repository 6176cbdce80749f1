// `node dist-bench/bench/profile-summary.js <file.cpuprofile> [top] [--serving] [--cpu-us U] [--match re] [--stages]`:
// where a V8 CPU profile (from `npm run bench -- --cpu-prof`) spends its time, by
// function (self time) and by file (self time), and inclusive time of the
// latchkey functions, so a weak ratio can be traced to the code that limits it.
//
// --serving    only the samples after start-up (module loading) up to the last
//              100 ms window in which the process was at least half busy: set-up,
//              warm-up and the measured load, without the start-up that makes up
//              most of a quick run's profile, nor the idle end.
// --cpu-us U   the server's CPU per request in µs (from the bench: 1e6 ×
//              server_cpu_cores ÷ ops/s): each frame's share of the busy samples is
//              also printed as µs per request (the per-stage budget in bench/RESULTS.md).
// --match re   inclusive time of every frame whose label matches the regular
//              expression, Node's own included (e.g. `parserOnHeadersComplete|writev`).
// --stages     the busy time split into the request's stages (STAGES below): each
//              sample goes to the stage of the innermost frame on its stack that
//              names one, so the stages add up to the busy time.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const { values: flags, positionals } = parseArgs({
  allowPositionals: true,
  options: { serving: { type: "boolean", default: false }, stages: { type: "boolean", default: false }, "cpu-us": { type: "string" }, match: { type: "string" } },
});
const [file, topArg] = positionals;
if (!file) {
  process.stderr.write("usage: profile-summary <file.cpuprofile> [top] [--serving] [--cpu-us U] [--match regex] [--stages]\n");
  process.exit(2);
}
const top = Number(topArg ?? 25);
const cpuUs = flags["cpu-us"] ? Number(flags["cpu-us"]) : undefined;
const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const idleIds = new Set(profile.nodes.filter((n) => n.callFrame.functionName === "(idle)").map((n) => n.id));

// Each sample's time (from the deltas: more exact than hitCount × interval) and when it was taken.
const samples: { id: number; us: number; at: number }[] = [];
for (let i = 0, at = 0; i < profile.samples.length; i++) {
  const us = profile.timeDeltas[i + 1] ?? 0;
  at += profile.timeDeltas[i] ?? 0;
  samples.push({ id: profile.samples[i], us, at });
}

/** Whether a sample's stack is loading modules: start-up, or a module imported on first use. */
function loadingModules(id: number): boolean {
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    if (byId.get(cur)!.callFrame.url.startsWith("node:internal/modules/")) return true;
  }
  return false;
}

/**
 * The samples after start-up (the last 100 ms window that spent a tenth of its
 * time loading modules) up to the last window that was at least half busy.
 */
function servingStretch(all: typeof samples): typeof samples {
  const WINDOW_US = 100_000;
  const windows = new Map<number, { loading: number; busy: number; total: number }>();
  for (const s of all) {
    const key = Math.floor(s.at / WINDOW_US);
    const w = windows.get(key) ?? { loading: 0, busy: 0, total: 0 };
    w.total += s.us;
    if (!idleIds.has(s.id)) w.busy += s.us;
    if (loadingModules(s.id)) w.loading += s.us;
    windows.set(key, w);
  }
  const keys = [...windows.keys()];
  const from = Math.max(-1, ...keys.filter((k) => windows.get(k)!.loading >= windows.get(k)!.total / 10)) + 1;
  const to = Math.max(from, ...keys.filter((k) => windows.get(k)!.busy >= windows.get(k)!.total / 2)) + 1;
  return all.filter((s) => s.at >= from * WINDOW_US && s.at < to * WINDOW_US);
}

const chosen = flags.serving ? servingStretch(samples) : samples;
const selfUs = new Map<number, number>();
for (const s of chosen) selfUs.set(s.id, (selfUs.get(s.id) ?? 0) + s.us);
const totalUs = [...selfUs.values()].reduce((a, b) => a + b, 0);
const busyUs = [...selfUs].filter(([id]) => !idleIds.has(id)).reduce((a, [, us]) => a + us, 0);

function shortUrl(url: string): string {
  if (url === "") return "(native)";
  const path = url.replace(/^file:\/\//, "");
  const dep = /\/node_modules\/(.*)$/.exec(path);
  if (dep) return `~/${dep[1]}`;
  return path.replace(/^.*\/(dist|dist-bench)\//, "$1/");
}
const label = (n: ProfileNode) =>
  `${n.callFrame.functionName || "(anonymous)"} ${shortUrl(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;

function addTo(map: Map<string, number>, key: string, us: number) {
  map.set(key, (map.get(key) ?? 0) + us);
}

const selfByFunction = new Map<string, number>();
const selfByFile = new Map<string, number>();
const inclusive = new Map<string, number>();
for (const [id, us] of selfUs) {
  const node = byId.get(id)!;
  addTo(selfByFunction, label(node), us);
  addTo(selfByFile, shortUrl(node.callFrame.url), us);
  // Inclusive time: every distinct frame on the stack gets the sample once (recursion counted once).
  const seen = new Set<string>();
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const l = label(byId.get(cur)!);
    if (seen.has(l)) continue;
    seen.add(l);
    addTo(inclusive, l, us);
  }
}

const perRequest = (us: number) => (cpuUs ? `  ${((us / busyUs) * cpuUs).toFixed(1).padStart(6)} µs` : "");
const pct = (us: number) => `${((us / totalUs) * 100).toFixed(1).padStart(5)}%${perRequest(us)}`;
const print = (title: string, map: Map<string, number>, filter: (k: string) => boolean = () => true) => {
  process.stdout.write(`\n${title}\n`);
  [...map]
    .filter(([k]) => filter(k))
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .forEach(([k, us]) => process.stdout.write(`${pct(us)}  ${k}\n`));
};

process.stdout.write(
  `${file}: ${(totalUs / 1e6).toFixed(2)} s sampled${flags.serving ? " while serving" : ""}, ` +
    `${(busyUs / 1e6).toFixed(2)} s busy${cpuUs ? `; µs are shares of the busy time × ${cpuUs} µs per request` : ""}\n`,
);
print("self time by function", selfByFunction);
print("self time by file", selfByFile);
print("inclusive time, latchkey code", inclusive, (k) => k.includes(" dist/"));
if (flags.match) {
  const re = new RegExp(flags.match);
  print(`inclusive time, frames matching /${flags.match}/`, inclusive, (k) => re.test(k));
}

/**
 * The stages of a request, by the frames that do each. A sample belongs to the
 * innermost frame that matches: HMAC under the token lookup is crypto, the
 * token lookup around it auth; fastify's reply under latchkey's send is HTTP.
 */
const STAGES: [string, RegExp][] = [
  ["crypto (HMAC, AES-GCM, RS256, sealing)", /^(tokenKey|encryptValue|decryptValue|sealBatch|openBatch) dist\/|~\/jose\/|node:internal\/crypto\/(cipher|sig|keys|webcrypto)/],
  ["storage (SQLite, barrier, JSON of stored values)", /dist\/storage\/|~\/better-sqlite3\//],
  ["auth (token lookup, cache)", /dist\/core\/tokens\/|^(authenticate|authenticateFor) dist\/core\/core\.js/],
  ["ACL", /dist\/core\/policy\/|^authorize dist\/core\/core\.js/],
  ["handler (the backend's or the injector's own code)", /dist\/(auth|secrets|injector)\//],
  ["serialisation (envelope, JSON)", /^(sendJson|envelope) dist\/|^serialize ~\/fastify/],
  ["HTTP parse, fastify, writes (the stack)", /~\/(fastify|find-my-way|light-my-request|secure-json-parse|fast-)|node:(_http_|net|internal\/streams|internal\/stream_base_commons|events)|^writev \(native\)/],
  ["core (routing, metrics, audit gate, envelope plumbing)", /dist\/core\//],
  ["latchkey HTTP layer (LIST rewriter, quotas, request envelope)", /dist\/server\//],
  ["garbage collection", /^\(garbage collector\)/],
];

if (flags.stages) {
  const byStage = new Map<string, number>();
  for (const [id, us] of selfUs) {
    if (idleIds.has(id)) continue;
    let stage = "other (timers, microtask plumbing, start-up)";
    search: for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const l = label(byId.get(cur)!);
      for (const [name, re] of STAGES) {
        if (re.test(l)) {
          stage = name;
          break search;
        }
      }
    }
    addTo(byStage, stage, us);
  }
  process.stdout.write("\nbusy time by stage\n");
  [...byStage]
    .sort((a, b) => b[1] - a[1])
    .forEach(([k, us]) =>
      process.stdout.write(`${((us / busyUs) * 100).toFixed(1).padStart(5)}%${cpuUs ? `  ${((us / busyUs) * cpuUs).toFixed(1).padStart(6)} µs` : ""}  ${k}\n`),
    );
}
