import { createCipheriv, createDecipheriv } from "node:crypto";
import { publicRandomBytes } from "../core/random-pool.js";

/**
 * The at-rest value format, shared by barrier values, the keyring and the
 * wrapped root key: version byte, key term (uint32 BE), 12-byte random nonce,
 * AES-256-GCM ciphertext, 16-byte tag. The associated data is the physical key
 * the value is stored under, so a value copied to another key fails to decrypt.
 */
const FORMAT_VERSION = 1;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const HEADER_BYTES = 1 + 4 + NONCE_BYTES;

export function encryptValue(key: Uint8Array, term: number, aad: string, plaintext: Uint8Array): Uint8Array {
  // A fresh exact-size array, never a slice of Node's shared Buffer pool.
  const out = new Uint8Array(HEADER_BYTES + plaintext.length + TAG_BYTES);
  const header = Buffer.from(out.buffer, 0, HEADER_BYTES);
  header[0] = FORMAT_VERSION;
  header.writeUInt32BE(term, 1);
  publicRandomBytes(NONCE_BYTES).copy(header, 5);
  const cipher = createCipheriv("aes-256-gcm", key, header.subarray(5));
  cipher.setAAD(Buffer.from(aad, "utf8"));
  out.set(cipher.update(plaintext), HEADER_BYTES);
  cipher.final();
  out.set(cipher.getAuthTag(), HEADER_BYTES + plaintext.length);
  return out;
}

/** The key term a stored value was encrypted with, or undefined if it is not in the format. */
export function termOf(stored: Uint8Array): number | undefined {
  if (stored.length < HEADER_BYTES + TAG_BYTES || stored[0] !== FORMAT_VERSION) return undefined;
  return Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength).readUInt32BE(1);
}

/** Throws if the value is malformed, was encrypted under another key, or was stored under another `aad`. */
export function decryptValue(key: Uint8Array, aad: string, stored: Uint8Array): Uint8Array {
  if (termOf(stored) === undefined) throw new Error("not an encrypted latchkey value");
  const bytes = Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength);
  const decipher = createDecipheriv("aes-256-gcm", key, bytes.subarray(5, HEADER_BYTES));
  decipher.setAAD(Buffer.from(aad, "utf8"));
  decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
  const out = new Uint8Array(bytes.length - HEADER_BYTES - TAG_BYTES);
  out.set(decipher.update(bytes.subarray(HEADER_BYTES, bytes.length - TAG_BYTES)));
  decipher.final();
  return out;
}
