import type { Scenario } from "../lib/types.js";
import { tokenReviewLogin } from "./k8s-login-tokenreview.js";
import { tokenReviewUnavailable } from "./k8s-tokenreview-direct.js";

/** Pods that log in repeatedly: the same JWTs again within review_cache_ttl (10 s) reuse their review. */
export const k8sLoginTokenreviewCached: Scenario = {
  name: "k8s-login-tokenreview-cached",
  about: "as k8s-login-tokenreview, review_cache_ttl 10 s: the same JWTs log in again and again",
  baseline: "k8s-login-tokenreview",
  target: { text: "≥ 3×", met: (r) => (r.ratio ?? 0) >= 3 },
  unavailable: tokenReviewUnavailable,
  run: (ctx) => tokenReviewLogin(ctx, 10, "k8s-login-tokenreview-cached"),
};
