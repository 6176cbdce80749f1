import type { Request } from "autocannon";
import { KV_KEYS, secretBody, startKvServer } from "../lib/kv.js";
import { measureHttp } from "../lib/measure.js";
import type { Scenario } from "../lib/types.js";

/** Load process: each write is a new version of one of the secrets (KV v2 keeps 10, trims the rest). */
export function writeRequests(args: { token: string }): Request[] {
  let i = 0;
  return [
    {
      method: "POST",
      headers: { "x-vault-token": args.token, "content-type": "application/json" },
      setupRequest: (req) => {
        const n = i++;
        return { ...req, path: `/v1/secret/data/app/w${n % KV_KEYS}`, body: JSON.stringify(secretBody(n)) };
      },
    },
  ];
}

export const kvV2WriteSqlite: Scenario = {
  name: "kv-v2-write-sqlite",
  about: `POST secret/data/app/w<n>: new versions of ${KV_KEYS} secrets (config file: SQLite, auto seal)`,
  baseline: "fastify-hello-world",
  async run(ctx) {
    const { server, token } = await startKvServer(ctx, "kv-v2-write-sqlite");
    return measureHttp(ctx, server.process, {
      url: server.address,
      dynamic: { module: import.meta.url, name: "writeRequests", args: { token } },
    });
  },
};
