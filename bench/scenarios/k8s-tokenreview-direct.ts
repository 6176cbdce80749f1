import { kubernetesAuthMissing, useTestCluster } from "../lib/k8s.js";
import { measureHttp } from "../lib/measure.js";
import { peakRssMb } from "../lib/processes.js";
import { reviewFixture, reviewLoad } from "../lib/tokenreview.js";
import type { Scenario } from "../lib/types.js";

/** Why the TokenReview scenarios cannot run: no auth method, or no API server. */
export async function tokenReviewUnavailable(): Promise<string | undefined> {
  return (await kubernetesAuthMissing()) ?? useTestCluster();
}

/** The API server's own TokenReview rate, driven directly with the same concurrency: the TokenReview logins' ceiling. */
export const k8sTokenreviewDirect: Scenario = {
  name: "k8s-tokenreview-direct",
  about: "POST tokenreviews straight to the API server (reviewer token, same JWTs, same connections)",
  unavailable: async () => useTestCluster(),
  async run(ctx) {
    const fx = await reviewFixture(ctx);
    const m = await measureHttp(ctx, { pid: fx.apiServerPid ?? 0 }, {
      url: fx.host,
      tlsCa: fx.caPem,
      dynamic: reviewLoad(fx),
    });
    // The API server is not ours: its VmHWM covers its whole life, not this scenario.
    return { ...m, peak_rss_mb: fx.apiServerPid ? peakRssMb(fx.apiServerPid) : null };
  },
};
