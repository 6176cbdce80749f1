import { join } from "node:path";
import { profileFlags } from "./latchkey.js";
import { KV_KEYS } from "./kv.js";
import { BENCH_DIST, spawnNode, waitForOutput, type BenchProcess } from "./processes.js";
import type { BenchContext } from "./types.js";

/** The requests bench/servers/floor.ts can serve, each the unavoidable work of one latchkey request. */
export type FloorKind = "token-read" | "kv-read" | "login-batch" | "login-service";

/** The token the read floors accept (latchkey's format: `lks.` and 32 random bytes). */
export const FLOOR_TOKEN = "lks.floor-bench-token-0000000000000000000000000";

/**
 * Starts a floor server pinned to the server CPU, as `fastify-hello-world`
 * runs, with KV_KEYS tokens and secrets seeded in its SQLite file; `jwk` is the
 * public key the login floors verify with.
 */
export async function startFloor(ctx: BenchContext, kind: FloorKind, jwk?: unknown): Promise<{ server: BenchProcess; url: string }> {
  const arg = kind.startsWith("login") ? JSON.stringify(jwk) : FLOOR_TOKEN;
  const server = spawnNode([join(BENCH_DIST, "servers", "floor.js"), kind, ctx.workDir, String(KV_KEYS), arg], {
    cpus: ctx.settings.cpus?.server,
    nodeFlags: profileFlags(ctx, `floor-${kind}`),
  });
  ctx.defer(() => server.stop());
  const [, url] = await waitForOutput(server, /Address: (\S+)/);
  return { server, url };
}
