import { startLatchkey, tokenWithPolicy } from "../lib/latchkey.js";
import { measureHttp } from "../lib/measure.js";
import type { Scenario } from "../lib/types.js";

/** The cost of authenticating a request: token lookup, ACL check, audit (no device), envelope. */
export const authTokenLookupSelf: Scenario = {
  name: "auth-token-lookup-self",
  about: "GET auth/token/lookup-self with a non-root service token (dev server, SQLite)",
  baseline: "fastify-hello-world",
  floor: "floor-token-read",
  target: { text: "≥ 60%", met: (r) => (r.ratio ?? 0) >= 0.6 },
  async run(ctx) {
    const server = await startLatchkey(ctx, { mode: "dev" }, "auth-token-lookup-self");
    // `default` grants lookup-self; a policy of its own keeps the token non-root, like an application's.
    const token = await tokenWithPolicy(server.address, server.rootToken, "bench-app", `path "secret/data/app/*" { capabilities = ["read"] }`);
    return measureHttp(ctx, server.process, {
      url: server.address,
      request: { method: "GET", path: "/v1/auth/token/lookup-self", headers: { "x-vault-token": token } },
    });
  },
};
