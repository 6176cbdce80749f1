import { loginLoad, mountKubernetesAuth } from "../lib/k8s.js";
import { startLatchkey } from "../lib/latchkey.js";
import { measureHttp } from "../lib/measure.js";
import { cpuSeconds } from "../lib/processes.js";
import { reviewConfig, reviewFixture } from "../lib/tokenreview.js";
import type { BenchContext, Measurement, Scenario } from "../lib/types.js";
import { tokenReviewUnavailable } from "./k8s-tokenreview-direct.js";

/**
 * Logins against the real API server with `validation: tokenreview`; with
 * `reviewCacheTtl` a repeated JWT within that many seconds costs no API call.
 */
export async function tokenReviewLogin(ctx: BenchContext, reviewCacheTtl: number, label: string): Promise<Measurement> {
  const fx = await reviewFixture(ctx);
  const server = await startLatchkey(ctx, { mode: "config" }, label);
  await mountKubernetesAuth(server, reviewConfig(fx, reviewCacheTtl), {});
  const apiBefore = fx.apiServerPid ? cpuSeconds(fx.apiServerPid) : null;
  const t0 = performance.now();
  const m = await measureHttp(ctx, server.process, {
    url: server.address,
    dynamic: loginLoad(fx.jwts),
  });
  const apiAfter = fx.apiServerPid ? cpuSeconds(fx.apiServerPid) : null;
  // Warm-up included: a rough figure of what the API server spent, to tell where the time went.
  const apiCpu =
    apiBefore !== null && apiAfter !== null ? Math.round(((apiAfter - apiBefore) / ((performance.now() - t0) / 1000)) * 100) / 100 : null;
  return { ...m, details: { ...m.details, api_server_cpu_cores: apiCpu, review_cache_ttl_s: reviewCacheTtl } };
}

export const k8sLoginTokenreview: Scenario = {
  name: "k8s-login-tokenreview",
  about: "POST auth/kubernetes/login, validation: tokenreview against the real API server, no review cache",
  baseline: "k8s-tokenreview-direct",
  target: { text: "≥ 50%", met: (r) => (r.ratio ?? 0) >= 0.5 },
  unavailable: tokenReviewUnavailable,
  run: (ctx) => tokenReviewLogin(ctx, 0, "k8s-login-tokenreview"),
};
