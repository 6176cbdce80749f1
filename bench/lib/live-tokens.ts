import { createHmac } from "node:crypto";

/** The environment variable that hands tokens-1m's set-up processes the seed of the live tokens' ids. */
export const TOKEN_SEED_ENV = "LATCHKEY_BENCH_TOKEN_SEED";

/**
 * The id of tokens-1m's live token number `i`, shaped like the service
 * tokens latchkey issues (`lks.` + 32 bytes, base64url): the set-up writes
 * it and the scenario presents it, and neither writes it anywhere else.
 */
export function liveTokenId(seed: string, i: number): string {
  return "lks." + createHmac("sha256", seed).update(String(i)).digest("base64url");
}
