import { randomBytes } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { Pool } from "undici";
import { startLatchkey } from "../lib/latchkey.js";
import { liveTokenId, TOKEN_SEED_ENV } from "../lib/live-tokens.js";
import { BENCH_DIST, peakRssMb, rssMb, round, spawnNode } from "../lib/processes.js";
import type { BenchContext, Measurement, Scenario } from "../lib/types.js";
import type { TokensFillResult } from "../servers/tokens-setup.js";

const TARGET = { startS: 5, rssMb: 1024, revokedPerS: 2000 };

/** Keys of the expiry index (src/core/leases/keys.ts) inside the barrier's `sys/expire/` view: plaintext, so countable. */
const expiryKey = (ms: number) => `sys/expire/exp/${String(ms).padStart(13, "0")}`;

/** Distinct live tokens presented after the revocations: three times the token cache's default 100,000 entries. */
const LOOKUPS = { full: 300_000, quick: 15_000 };
const LOOKUP_CONNECTIONS = 32;

/**
 * Runs the set-up processes (unpinned: they are not under test); returns the
 * root token and when the batch fell due. `seed` derives the live tokens' ids.
 */
async function setUp(ctx: BenchContext, dataDir: string, seed: string) {
  const { total, expiring } = ctx.settings.tokens;
  const script = join(BENCH_DIST, "servers", "tokens-setup.js");
  const run = async (args: string[], resultFile: string) => {
    const p = spawnNode([script, ...args, resultFile], { env: { [TOKEN_SEED_ENV]: seed } });
    ctx.defer(() => p.stop());
    p.proc.stdout!.on("data", (d: Buffer) => ctx.log(`  ${d.toString().trim()}`));
    const code = await new Promise<number | null>((resolve) => p.proc.once("exit", (c) => resolve(c)));
    if (code !== 0) throw new Error(`tokens set-up (${args[0]}) exited with ${code}:\n${p.output()}`);
    return JSON.parse(readFileSync(resultFile, "utf8")) as unknown;
  };
  const started = performance.now();
  const { rootToken } = (await run(["init", dataDir], join(ctx.workDir, "init.json"))) as { rootToken: string };
  const parts = Math.max(1, cpus().length);
  const share = Math.ceil(total / parts);
  const fills = (await Promise.all(
    Array.from({ length: parts }, (_, k) =>
      run(
        ["fill", dataDir, String(k * share), String(Math.min(total, (k + 1) * share)), String(expiring)],
        join(ctx.workDir, `fill-${k}.json`),
      ),
    ),
  )) as TokensFillResult[];
  const due = fills.filter((f) => f.dueFromMs !== null && f.dueToMs !== null);
  return {
    rootToken,
    seconds: (performance.now() - started) / 1000,
    dueFromMs: Math.min(...due.map((f) => f.dueFromMs!)),
    dueToMs: Math.max(...due.map((f) => f.dueToMs!)),
  };
}

/**
 * Presents `count` distinct live tokens once each (`auth/token/lookup-self`,
 * 32 connections) and samples the server's RSS meanwhile: each lookup misses
 * the token cache and adds an entry, so the cache fills to its bound and then
 * evicts. Every token must be accepted.
 */
async function lookUpLiveTokens(address: string, pid: number, seed: string, first: number, count: number) {
  const pool = new Pool(address, { connections: LOOKUP_CONNECTIONS, pipelining: 1 });
  let next = first;
  let refused = 0;
  let maxRssMb = 0;
  const sampler = setInterval(() => (maxRssMb = Math.max(maxRssMb, rssMb(pid) ?? 0)), 250);
  const started = performance.now();
  try {
    await Promise.all(
      Array.from({ length: LOOKUP_CONNECTIONS }, async () => {
        while (next < first + count) {
          const res = await pool.request({
            method: "GET",
            path: "/v1/auth/token/lookup-self",
            headers: { "x-vault-token": liveTokenId(seed, next++) },
          });
          await res.body.dump();
          if (res.statusCode !== 200) refused++;
        }
      }),
    );
  } finally {
    clearInterval(sampler);
    await pool.close();
  }
  const seconds = (performance.now() - started) / 1000;
  return { lookups: count, refused, perS: round(count / seconds, 0), maxRssMb: Math.max(maxRssMb, rssMb(pid) ?? 0) };
}

/**
 * 1,000,000 live service tokens with leases (20,000 with --quick): start-up
 * time to ready, RSS, and how fast the expiration manager revokes the
 * 100,000 of them (5,000) whose leases fell due together while the server was
 * not running (its first tick finds them all); then 300,000 (15,000) of the live
 * tokens each looked up once, which fills the token cache past its bound, so
 * the peak RSS covers a full cache. ops_per_s is expirations revoked per second.
 */
export const tokens1m: Scenario = {
  name: "tokens-1m",
  about: "1,000,000 live service tokens with leases: start-up to ready, RSS, expirations revoked/s (ops/s)",
  target: {
    text: `start ≤ ${TARGET.startS} s, RSS ≤ 1 GiB, ≥ ${TARGET.revokedPerS}/s`,
    met: (r) =>
      r.ops_per_s >= TARGET.revokedPerS &&
      (r.peak_rss_mb ?? Infinity) <= TARGET.rssMb &&
      Number(r.details?.startup_s ?? Infinity) <= TARGET.startS,
  },
  async run(ctx): Promise<Measurement> {
    const { total, expiring } = ctx.settings.tokens;
    const dataDir = join(ctx.workDir, "store");
    const seed = randomBytes(32).toString("hex");
    const setup = await setUp(ctx, dataDir, seed);
    const dbPath = join(dataDir, "latchkey.db");
    const dbMb = round(statSync(dbPath).size / 2 ** 20, 0);
    ctx.log(`  ${total} tokens written in ${round(setup.seconds, 1)} s; database ${dbMb} MiB`);

    // A second connection to the same WAL database counts the due leases' index keys while the server revokes them.
    const db = new Database(dbPath, { readonly: true });
    ctx.defer(() => void db.close());
    const countStmt = db.prepare<[string, string], number>("SELECT count(*) FROM kv WHERE key >= ? AND key < ?").pluck();
    const countDue = () => countStmt.get(expiryKey(setup.dueFromMs), expiryKey(setup.dueToMs))!;
    const initial = countDue();
    if (initial !== expiring) throw new Error(`expected ${expiring} due leases, found ${initial}`);

    // Polled from the moment the server is spawned, so the window does not depend on when it reports ready.
    const t0 = performance.now();
    let lastFull = t0;
    let firstSeen: number | undefined;
    let stopPolling = false;
    const revoked = (async () => {
      const deadline = t0 + 120_000 + (expiring / 200) * 1000;
      for (;;) {
        const left = countDue();
        const at = performance.now();
        if (left === expiring) lastFull = at;
        else firstSeen ??= at;
        if (left === 0) return at;
        if (stopPolling) return undefined;
        if (at > deadline) throw new Error(`${left} of ${expiring} due leases still there after ${Math.round((at - t0) / 1000)} s`);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    ctx.defer(() => void (stopPolling = true));
    const server = await startLatchkey(ctx, { mode: "config", dataDir, rootToken: setup.rootToken }, "tokens-1m");
    const ready = performance.now();
    const rssAfterStart = rssMb(server.process.pid);
    const done = await revoked;
    // From the last poll that saw none revoked to the first that saw all revoked: a slight underestimate.
    const windowS = (done! - lastFull) / 1000;
    const liveTokens = db
      .prepare<[], number>("SELECT count(*) FROM kv WHERE key >= 'sys/token/id/' AND key < 'sys/token/id0'")
      .pluck()
      .get()!;
    const lookups = await lookUpLiveTokens(
      server.address,
      server.process.pid!,
      seed,
      expiring,
      Math.min(total - expiring, LOOKUPS[ctx.settings.quick ? "quick" : "full"]),
    );
    if (lookups.refused > 0) throw new Error(`${lookups.refused} of ${lookups.lookups} live tokens refused`);
    ctx.log(`  ${lookups.lookups} distinct live tokens looked up at ${lookups.perS}/s; RSS at most ${lookups.maxRssMb} MiB meanwhile`);

    return {
      ops_per_s: round(expiring / windowS, 1),
      p50_ms: null,
      p99_ms: null,
      peak_rss_mb: peakRssMb(server.process.pid),
      details: {
        tokens: total,
        expiring_together: expiring,
        setup_s: round(setup.seconds, 1),
        database_mb: dbMb,
        startup_s: round((ready - t0) / 1000, 2),
        rss_after_start_mb: rssAfterStart,
        // Seconds from spawning the server to its first revocation (its first expiration tick).
        first_revocation_s: firstSeen === undefined ? null : round((firstSeen - t0) / 1000, 2),
        revoke_window_s: round(windowS, 2),
        // The root token has no TTL and stays.
        tokens_left: liveTokens,
        tokens_left_expected: total - expiring + 1,
        // Distinct live tokens looked up once each after the revocations (each a cache miss that adds an entry).
        distinct_lookups: lookups.lookups,
        lookups_per_s: lookups.perS,
        rss_during_lookups_max_mb: lookups.maxRssMb,
      },
    };
  },
};
