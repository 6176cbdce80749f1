import { FLOOR_TOKEN, startFloor } from "../lib/floor.js";
import { KV_KEYS } from "../lib/kv.js";
import { measureHttp } from "../lib/measure.js";
import type { Scenario } from "../lib/types.js";
import { readRequests } from "./kv-v2-read-sqlite.js";

/** The floor of `kv-v2-read-sqlite`, driven by the same requests. */
export const floorKvRead: Scenario = {
  name: "floor-kv-read",
  about: `floor-token-read plus a second point read and decrypt: the secret, round ${KV_KEYS} of them`,
  baseline: "fastify-hello-world",
  async run(ctx) {
    const { server, url } = await startFloor(ctx, "kv-read");
    return measureHttp(ctx, server, {
      url,
      dynamic: { module: new URL("./kv-v2-read-sqlite.js", import.meta.url).href, name: readRequests.name, args: { token: FLOOR_TOKEN } },
    });
  },
};
