import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { startLatchkey } from "../lib/latchkey.js";
import { BENCH_DIST, peakRssMb, rssMb, round, spawnNode } from "../lib/processes.js";
import type { BenchContext, Measurement, Scenario } from "../lib/types.js";
import type { TokensSetupResult } from "../servers/tokens-setup.js";

const TARGET = { startS: 5, rssMb: 1024, revokedPerS: 2000 };

/** Keys of the expiry index (src/core/leases/keys.ts) inside the barrier's `sys/expire/` view: plaintext, so countable. */
const expiryKey = (ms: number) => `sys/expire/exp/${String(ms).padStart(13, "0")}`;

async function setUp(ctx: BenchContext, dataDir: string): Promise<TokensSetupResult> {
  const { total, expiring } = ctx.settings.tokens;
  const resultFile = join(ctx.workDir, "setup.json");
  // Unpinned: it is not under test, and both cores make the set-up quicker.
  const setup = spawnNode([join(BENCH_DIST, "servers", "tokens-setup.js"), dataDir, String(total), String(expiring), resultFile]);
  ctx.defer(() => setup.stop());
  setup.proc.stdout!.on("data", (d: Buffer) => ctx.log(`  ${d.toString().trim()}`));
  const code = await new Promise<number | null>((resolve) => setup.proc.once("exit", (c) => resolve(c)));
  if (code !== 0) throw new Error(`tokens set-up exited with ${code}:\n${setup.output()}`);
  return JSON.parse(readFileSync(resultFile, "utf8")) as TokensSetupResult;
}

/**
 * 1,000,000 live service tokens with leases (20,000 with --quick): start-up
 * time to ready, RSS, and how fast the expiration manager revokes a batch
 * that comes due at once. ops_per_s is expirations revoked per second.
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
    const setup = await setUp(ctx, dataDir);
    const dbPath = join(dataDir, "latchkey.db");
    const dbMb = round(statSync(dbPath).size / 2 ** 20, 0);
    ctx.log(`  ${total} tokens written in ${round(setup.seconds, 1)} s; database ${dbMb} MiB`);

    const t0 = performance.now();
    const server = await startLatchkey(ctx, { mode: "config", dataDir, rootToken: setup.rootToken }, "tokens-1m");
    const startupS = round((performance.now() - t0) / 1000, 2);
    const rssAfterStart = rssMb(server.process.pid);

    // A second connection to the same WAL database counts the due leases' index keys while the server revokes them.
    const db = new Database(dbPath, { readonly: true });
    ctx.defer(() => void db.close());
    const countStmt = db.prepare<[string, string], number>("SELECT count(*) FROM kv WHERE key >= ? AND key < ?").pluck();
    const countDue = () => countStmt.get(expiryKey(setup.dueFromMs), expiryKey(setup.dueToMs))!;
    const initial = countDue();
    if (initial !== expiring) throw new Error(`expected ${expiring} leases due together, found ${initial}`);

    let lastFull = performance.now();
    let firstSeenAt: number | undefined;
    const deadline = Date.now() + (setup.dueToMs - Date.now()) + 60_000 + (expiring / 200) * 1000;
    for (;;) {
      const left = countDue();
      const at = performance.now();
      if (left === expiring) lastFull = at;
      else firstSeenAt ??= Date.now();
      if (left === 0) break;
      if (Date.now() > deadline) throw new Error(`${left} of ${expiring} due leases still there after the deadline`);
      await new Promise((r) => setTimeout(r, 50));
    }
    // From the last poll that saw none revoked to the first that saw all revoked: a slight underestimate.
    const windowS = (performance.now() - lastFull) / 1000;
    const liveTokens = db
      .prepare<[], number>("SELECT count(*) FROM kv WHERE key >= 'sys/token/id/' AND key < 'sys/token/id0'")
      .pluck()
      .get()!;

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
        startup_s: startupS,
        rss_after_start_mb: rssAfterStart,
        revoke_lag_s: firstSeenAt === undefined ? null : round((firstSeenAt - setup.dueFromMs) / 1000, 2),
        revoke_window_s: round(windowS, 2),
        // The root token has no TTL and stays.
        tokens_left: liveTokens,
        tokens_left_expected: total - expiring + 1,
      },
    };
  },
};
