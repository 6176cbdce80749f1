import { join } from "node:path";
import { serviceAccountJwts } from "../lib/jwks.js";
import { profileFlags } from "../lib/latchkey.js";
import { measureHttp } from "../lib/measure.js";
import { BENCH_DIST, spawnNode, waitForOutput } from "../lib/processes.js";
import { REQUESTS_MODULE } from "../lib/requests.js";
import type { Scenario } from "../lib/types.js";
import { JWKS_PODS } from "./k8s-login-jwks-service.js";

/** Raw RS256 verifications/s over HTTP in the same process model: the second baseline of the JWKS logins. */
export const rs256VerifyRaw: Scenario = {
  name: "rs256-verify-raw",
  about: "POST / on a bare fastify server that verifies the JWT (jose, RS256-2048, key imported once)",
  baseline: "fastify-hello-world",
  async run(ctx) {
    const { jwts, publicJwk } = await serviceAccountJwts(JWKS_PODS);
    const server = spawnNode([join(BENCH_DIST, "servers", "rs256-verify.js"), JSON.stringify(publicJwk)], {
      cpus: ctx.settings.cpus?.server,
      nodeFlags: profileFlags(ctx, "rs256-verify-raw"),
    });
    ctx.defer(() => server.stop());
    const [, url] = await waitForOutput(server, /Address: (\S+)/);
    return measureHttp(ctx, server, { url, dynamic: { module: REQUESTS_MODULE, name: "postEach", args: { path: "/", bodies: jwts.map((jwt) => ({ jwt })) } } });
  },
};
