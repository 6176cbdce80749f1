import { randomBytes } from "node:crypto";
import { api, startLatchkey, tokenWithPolicy, type LatchkeyServer } from "./latchkey.js";
import type { BenchContext } from "./types.js";

/** Secrets the KV scenarios spread their reads and writes over. */
export const KV_KEYS = 1000;

/** A secret the size of a typical database credential. */
export function secretBody(i: number): { data: Record<string, string> } {
  return {
    data: {
      username: `app-${i}`,
      password: randomBytes(24).toString("base64url"),
      url: `postgres://db-${i % 10}.internal:5432/app`,
    },
  };
}

/**
 * A config-file server on SQLite with the auto seal, KV version 2 at secret/,
 * and an application token that may read and write secret/data/app/*.
 */
export async function startKvServer(ctx: BenchContext, label: string): Promise<{ server: LatchkeyServer; token: string }> {
  const server = await startLatchkey(ctx, { mode: "config" }, label);
  return { server, token: await mountKv(server) };
}

/** Mounts KV version 2 at secret/ and returns an application token that may read and write secret/data/app/*. */
export async function mountKv(server: LatchkeyServer): Promise<string> {
  await api(server.address, "POST", "sys/mounts/secret", server.rootToken, { type: "kv", options: { version: "2" } });
  return tokenWithPolicy(server.address, server.rootToken, "bench-kv", `path "secret/data/app/*" { capabilities = ["create", "read", "update"] }`);
}

/** Writes secret/app/s0 .. s<KV_KEYS-1>, a few at a time. */
export async function seedSecrets(address: string, token: string): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < KV_KEYS) {
      const i = next++;
      await api(address, "POST", `secret/data/app/s${i}`, token, secretBody(i));
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
}
