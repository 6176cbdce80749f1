import { serviceAccountJwts, serveJwks } from "../lib/jwks.js";
import { kubernetesAuthMissing, loginLoad, mountKubernetesAuth } from "../lib/k8s.js";
import { startLatchkey } from "../lib/latchkey.js";
import { measureHttp } from "../lib/measure.js";
import type { BenchContext, Measurement, Scenario } from "../lib/types.js";

/** Distinct pods (JWTs) the JWKS logins go round. */
export const JWKS_PODS = 1000;

/**
 * Logins of `tokenType` tokens against a config with `validation: jwks`: the
 * signature is checked locally with the cluster's JWKS (served on loopback),
 * no API server is called. Reported next to the RS256 ceiling too.
 */
export async function jwksLogin(ctx: BenchContext, tokenType: "service" | "batch", label: string): Promise<Measurement> {
  const { jwts, publicJwk } = await serviceAccountJwts(JWKS_PODS);
  const jwks = await serveJwks(publicJwk);
  ctx.defer(() => jwks.close());
  const server = await startLatchkey(ctx, { mode: "config" }, label);
  await mountKubernetesAuth(server, { validation: "jwks", jwks_url: jwks.url }, { token_type: tokenType });
  const m = await measureHttp(ctx, server.process, {
    url: server.address,
    dynamic: loginLoad(jwts),
  });
  const rs256 = ctx.results.get("rs256-verify-raw");
  return {
    ...m,
    details: { ...m.details, ratio_to_rs256_verify: rs256 ? Math.round((m.ops_per_s / rs256.ops_per_s) * 1000) / 1000 : null },
  };
}

export const k8sLoginJwksService: Scenario = {
  name: "k8s-login-jwks-service",
  about: `POST auth/kubernetes/login, validation: jwks, service tokens, ${JWKS_PODS} pods`,
  baseline: "fastify-hello-world",
  floor: "floor-login-service",
  target: { text: "≥ 0.7× floor", met: (r) => (r.floor_ratio ?? 0) >= 0.7 },
  unavailable: kubernetesAuthMissing,
  run: (ctx) => jwksLogin(ctx, "service", "k8s-login-jwks-service"),
};
