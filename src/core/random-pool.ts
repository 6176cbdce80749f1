import { randomFillSync } from "node:crypto";

/**
 * Random bytes for values that are not secret (AES-GCM nonces, lease ids),
 * drawn from a buffer refilled from the CSPRNG when spent. A `randomBytes`
 * call costs about 6 µs whatever its size, as much as the encryption it feeds;
 * one fill serves a few hundred nonces. The bytes are as random as a call's;
 * only their timing is batched. Secrets (tokens, keys) never come from here:
 * they would sit in the buffer before use.
 */
const POOL_BYTES = 4096;
const pool = Buffer.alloc(POOL_BYTES);
let offset = POOL_BYTES;

/** `n` (≤ 4096) fresh random bytes in a buffer of their own. */
export function publicRandomBytes(n: number): Buffer {
  if (n > POOL_BYTES) throw new RangeError(`publicRandomBytes: ${n} bytes asked, at most ${POOL_BYTES}`);
  if (offset + n > POOL_BYTES) {
    randomFillSync(pool);
    offset = 0;
  }
  const out = Buffer.from(pool.subarray(offset, offset + n));
  offset += n;
  return out;
}
