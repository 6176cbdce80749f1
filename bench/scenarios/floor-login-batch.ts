import { serviceAccountJwts } from "../lib/jwks.js";
import { startFloor, type FloorKind } from "../lib/floor.js";
import { loginLoad } from "../lib/k8s.js";
import { measureHttp } from "../lib/measure.js";
import type { BenchContext, Measurement, Scenario } from "../lib/types.js";
import { JWKS_PODS } from "./k8s-login-jwks-service.js";

/** A login floor driven exactly as the JWKS logins are: the same kind of key, the same JWTs, the same requests. */
export async function floorLogin(ctx: BenchContext, kind: FloorKind): Promise<Measurement> {
  const { jwts, publicJwk } = await serviceAccountJwts(JWKS_PODS);
  const { server, url } = await startFloor(ctx, kind, publicJwk);
  return measureHttp(ctx, server, { url, dynamic: loginLoad(jwts) });
}

/** The floor of `k8s-login-jwks-batch`. */
export const floorLoginBatch: Scenario = {
  name: "floor-login-batch",
  about: `bare fastify: RS256 verification of the JWT (node:crypto, key imported once), a token sealed with AES-256-GCM; ${JWKS_PODS} pods`,
  baseline: "fastify-hello-world",
  run: (ctx) => floorLogin(ctx, "login-batch"),
};
