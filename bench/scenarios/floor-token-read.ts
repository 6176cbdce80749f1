import { FLOOR_TOKEN, startFloor } from "../lib/floor.js";
import { measureHttp } from "../lib/measure.js";
import type { Scenario } from "../lib/types.js";

/** What an authenticated read cannot avoid: the floor of `auth-token-lookup-self`. */
export const floorTokenRead: Scenario = {
  name: "floor-token-read",
  about: "bare fastify + SQLite: HMAC-SHA256 of the token, one point read, AES-256-GCM decrypt, the entry as JSON",
  baseline: "fastify-hello-world",
  async run(ctx) {
    const { server, url } = await startFloor(ctx, "token-read");
    return measureHttp(ctx, server, {
      url,
      request: { method: "GET", path: "/v1/auth/token/lookup-self", headers: { "x-vault-token": FLOOR_TOKEN } },
    });
  },
};
