import { createCipheriv, createDecipheriv, createHmac, randomBytes, randomInt, type KeyObject } from "node:crypto";
import { publicRandomBytes } from "../random-pool.js";

export const SERVICE_PREFIX = "lks.";
export const BATCH_PREFIX = "lkb.";

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const ACCESSOR_LENGTH = 24;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const TERM_BYTES = 4;
const BATCH_AAD = Buffer.from("latchkey batch token v1");

/** A batch-token key: the raw bytes, or (on the hot path) a KeyObject that OpenSSL need not import again per token. */
export interface BatchKey {
  term: number;
  key: Uint8Array | KeyObject;
}

/** The storage key of a token: HMAC-SHA256 under the store's key, hex. Storage keys are plaintext, so never the token itself. */
export function tokenKey(hmacKey: Uint8Array, token: string): string {
  return createHmac("sha256", hmacKey).update(token).digest("hex");
}

/** 32 random bytes: the token is the credential, so it carries the full 256 bits. */
export function newServiceToken(): string {
  return SERVICE_PREFIX + randomBytes(32).toString("base64url");
}

/** Vault-style accessor: 24 base62 characters (~142 bits), uniformly drawn. */
export function newAccessor(): string {
  let out = "";
  for (let i = 0; i < ACCESSOR_LENGTH; i++) out += BASE62[randomInt(BASE62.length)];
  return out;
}

/**
 * A batch token: `lkb.` + base64url(term | nonce | AES-256-GCM(payload)). The
 * term is authenticated as associated data, so it cannot be swapped to dodge
 * the keyring-rotation check.
 */
export function sealBatch(batchKey: BatchKey, payload: Uint8Array): string {
  const header = Buffer.alloc(TERM_BYTES);
  header.writeUInt32BE(batchKey.term);
  const nonce = publicRandomBytes(NONCE_BYTES);
  const cipher = createCipheriv("aes-256-gcm", batchKey.key, nonce);
  cipher.setAAD(Buffer.concat([BATCH_AAD, header]));
  const body = Buffer.concat([cipher.update(payload), cipher.final(), cipher.getAuthTag()]);
  return BATCH_PREFIX + Buffer.concat([header, nonce, body]).toString("base64url");
}

/** The payload of a batch token sealed under the current key, or undefined (wrong term, tampered, malformed). */
export function openBatch(batchKey: BatchKey, token: string): Uint8Array | undefined {
  if (!token.startsWith(BATCH_PREFIX)) return undefined;
  const raw = Buffer.from(token.slice(BATCH_PREFIX.length), "base64url");
  if (raw.length < TERM_BYTES + NONCE_BYTES + TAG_BYTES) return undefined;
  const header = raw.subarray(0, TERM_BYTES);
  if (header.readUInt32BE() !== batchKey.term) return undefined;
  const nonce = raw.subarray(TERM_BYTES, TERM_BYTES + NONCE_BYTES);
  const body = raw.subarray(TERM_BYTES + NONCE_BYTES, raw.length - TAG_BYTES);
  const tag = raw.subarray(raw.length - TAG_BYTES);
  try {
    const decipher = createDecipheriv("aes-256-gcm", batchKey.key, nonce);
    decipher.setAAD(Buffer.concat([BATCH_AAD, header]));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(body), decipher.final()]);
  } catch {
    return undefined;
  }
}
