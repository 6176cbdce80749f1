import type { Request } from "autocannon";
import { KV_KEYS, seedSecrets, startKvServer } from "../lib/kv.js";
import { measureHttp } from "../lib/measure.js";
import type { Scenario } from "../lib/types.js";

/** Load process: reads go round the seeded secrets, so the page cache holds a realistic working set. */
export function readRequests(args: { token: string }): Request[] {
  let i = 0;
  return [
    {
      method: "GET",
      headers: { "x-vault-token": args.token },
      setupRequest: (req) => ({ ...req, path: `/v1/secret/data/app/s${i++ % KV_KEYS}` }),
    },
  ];
}

export const kvV2ReadSqlite: Scenario = {
  name: "kv-v2-read-sqlite",
  about: `GET secret/data/app/s<n> over ${KV_KEYS} secrets (config file: SQLite, auto seal)`,
  baseline: "fastify-hello-world",
  floor: "floor-kv-read",
  target: { text: "≥ 0.9× floor", met: (r) => (r.floor_ratio ?? 0) >= 0.9 },
  async run(ctx) {
    const { server, token } = await startKvServer(ctx, "kv-v2-read-sqlite");
    await seedSecrets(server.address, token);
    return measureHttp(ctx, server.process, {
      url: server.address,
      dynamic: { module: import.meta.url, name: "readRequests", args: { token } },
    });
  },
};
