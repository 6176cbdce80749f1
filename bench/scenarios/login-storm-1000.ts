import { mountKubernetesAuth } from "../lib/k8s.js";
import { KV_KEYS, seedSecrets } from "../lib/kv.js";
import { api, startLatchkey } from "../lib/latchkey.js";
import { peakRssMb, round } from "../lib/processes.js";
import { runStorm } from "../lib/storm.js";
import { reviewConfig, reviewFixture } from "../lib/tokenreview.js";
import type { Scenario } from "../lib/types.js";
import { tokenReviewUnavailable } from "./k8s-tokenreview-direct.js";

const PODS = 1000;
const CONNECTIONS = 64;

/**
 * A node drain: 1,000 pods of distinct service accounts log in at once
 * (`validation: tokenreview`, no review cache) and each reads one secret;
 * beside it the same 1,000 TokenReviews posted straight to the API server,
 * which is what the storm cannot beat. ops/s is pods served per second.
 *
 * Two storms hit latchkey: the first right after it started (cold: modules
 * still compiling, functions not yet optimised, its connections to the API
 * server not yet open), the second once that one is over, with the pods'
 * other tokens, as a drain meets a gateway that has been serving for a while.
 * The headline figures are the second storm's; the first's are in the details.
 */
export const loginStorm1000: Scenario = {
  name: "login-storm-1000",
  about: `${PODS} service accounts log in (tokenreview) and read a secret, released at once over ${CONNECTIONS} connections`,
  target: {
    text: "≤ 1.5× direct",
    met: (r) => typeof r.details?.time_vs_direct === "number" && r.details.time_vs_direct <= 1.5,
  },
  unavailable: tokenReviewUnavailable,
  async run(ctx) {
    // Three tokens per account, one for each storm: the API server caches successful token authentications
    // for 10 s, so a JWT reviewed in one storm would be cheaper in the next.
    const fx = await reviewFixture(ctx, { accounts: PODS, tokensPerAccount: 3 });
    const [directJwts, coldJwts, warmJwts] = [0, 1, 2].map((t) => fx.jwts.filter((_, i) => i % 3 === t));
    const cpus = ctx.settings.cpus?.load ?? null;
    const direct = await runStorm(
      { kind: "tokenreview", url: fx.host, tlsCa: fx.caPem, reviewerJwt: fx.reviewerJwt, connections: CONNECTIONS, jwts: directJwts },
      { cpus, workDir: ctx.workDir },
    );

    const server = await startLatchkey(ctx, { mode: "config" }, "login-storm-1000");
    await api(server.address, "POST", "sys/mounts/secret", server.rootToken, { type: "kv", options: { version: "2" } });
    await seedSecrets(server.address, server.rootToken);
    await mountKubernetesAuth(server, reviewConfig(fx, 0), {});
    const podStorm = (jwts: string[]) =>
      runStorm(
        { kind: "login-read", url: server.address, role: "app", secrets: KV_KEYS, connections: CONNECTIONS, jwts },
        { cpus, workDir: ctx.workDir },
      );
    const cold = await podStorm(coldJwts);
    const storm = await podStorm(warmJwts);
    const vsDirect = (r: typeof storm) => (direct.total_s > 0 ? round(r.total_s / direct.total_s, 2) : null);
    for (const [label, r] of [["direct", direct], ["cold storm", cold], ["storm", storm]] as const) {
      if (r.failures > 0) ctx.log(`  ${label}: ${r.failures} pods failed, e.g. ${r.errors[0]}`);
    }
    return {
      ops_per_s: round((storm.pods - storm.failures) / storm.total_s, 1),
      p50_ms: storm.p50_ms,
      p99_ms: storm.p99_ms,
      peak_rss_mb: peakRssMb(server.process.pid),
      details: {
        pods: PODS,
        connections: CONNECTIONS,
        last_secret_s: storm.total_s,
        own_p99_ms: storm.own_p99_ms,
        failures: storm.failures,
        direct_last_review_s: direct.total_s,
        direct_p50_ms: direct.p50_ms,
        direct_p99_ms: direct.p99_ms,
        direct_failures: direct.failures,
        time_vs_direct: vsDirect(storm),
        cold_last_secret_s: cold.total_s,
        cold_p99_ms: cold.p99_ms,
        cold_failures: cold.failures,
        cold_time_vs_direct: vsDirect(cold),
      },
    };
  },
};
