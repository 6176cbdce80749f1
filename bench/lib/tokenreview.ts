import { readFileSync } from "node:fs";
import { join } from "node:path";
import { reviewerAccount } from "../../test/helpers/k8s-auth.js";
import { cleanup, createServiceAccount, kubeTestEnv, tokenRequest, uniqueNamespace } from "../../test/helpers/k8s.js";
import { REQUESTS_MODULE } from "./requests.js";
import type { BenchContext } from "./types.js";

/** Service accounts whose tokens the TokenReview scenarios log in with, and tokens per account (unless told otherwise). */
const ACCOUNTS = 20;
const TOKENS_PER_ACCOUNT = 5;
/** API calls in flight while the fixture is made: 1,000 accounts one by one would take most of a minute. */
const SETUP_CONCURRENCY = 16;

export interface ReviewFixture {
  host: string;
  caPem: string;
  /** A token of a service account bound to system:auth-delegator: latchkey's token_reviewer_jwt. */
  reviewerJwt: string;
  /** TokenRequest tokens of the application service accounts (the API server's own audience). */
  jwts: string[];
  /** The API server's pid, when the local cluster script started it (for its CPU and RSS). */
  apiServerPid?: number;
}

/**
 * Creates, in the cluster the environment names, a namespace with a reviewer
 * service account and application service accounts, and mints their tokens;
 * everything is deleted after the scenario.
 */
export async function reviewFixture(
  ctx: BenchContext,
  size: { accounts: number; tokensPerAccount: number } = { accounts: ACCOUNTS, tokensPerAccount: TOKENS_PER_ACCOUNT },
): Promise<ReviewFixture> {
  const env = kubeTestEnv();
  ctx.defer(() => cleanup());
  const ns = await uniqueNamespace({ "latchkey.bench": "true" });
  const reviewerJwt = await reviewerAccount(ns, "reviewer", { delegator: true });
  const jwts: string[][] = [];
  let next = 0;
  const worker = async () => {
    while (next < size.accounts) {
      const a = next++;
      await createServiceAccount(ns, `app-${a}`);
      jwts[a] = [];
      for (let t = 0; t < size.tokensPerAccount; t++) jwts[a].push((await tokenRequest(ns, `app-${a}`, { expirationSeconds: 3600 })).token);
    }
  };
  await Promise.all(Array.from({ length: SETUP_CONCURRENCY }, worker));
  return { host: env.host, caPem: env.caPem ?? "", reviewerJwt, jwts: jwts.flat(), apiServerPid: apiServerPid() };
}

function apiServerPid(): number | undefined {
  const ca = process.env.KUBE_CA;
  if (!ca) return undefined;
  try {
    // The local cluster keeps its CA in <state>/pki/ and the API server's pid in <state>/kube-apiserver.pid.
    const pid = Number(readFileSync(join(ca, "..", "..", "kube-apiserver.pid"), "utf8").trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** The kubernetes auth config of a TokenReview login against the fixture's API server. */
export function reviewConfig(fx: ReviewFixture, reviewCacheTtl: number): Record<string, unknown> {
  return {
    kubernetes_host: fx.host,
    kubernetes_ca_cert: fx.caPem,
    token_reviewer_jwt: fx.reviewerJwt,
    disable_local_ca_jwt: true,
    review_cache_ttl: reviewCacheTtl,
  };
}

/** The load of the direct baseline: TokenReviews straight to the API server, round the same JWTs latchkey's logins use. */
export function reviewLoad(fx: ReviewFixture) {
  return {
    module: REQUESTS_MODULE,
    name: "postEach",
    args: {
      path: "/apis/authentication.k8s.io/v1/tokenreviews",
      headers: { authorization: `Bearer ${fx.reviewerJwt}` },
      bodies: fx.jwts.map((token) => ({ apiVersion: "authentication.k8s.io/v1", kind: "TokenReview", spec: { token } })),
    },
  };
}
