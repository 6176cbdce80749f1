import { createPublicKey, generateKeyPair, randomBytes, type KeyObject } from "node:crypto";
import { promisify } from "node:util";
import type { AccessKeyType } from "./types.js";

const generate = promisify(generateKeyPair);

/** `p-` and 14 lowercase alphanumerics, the shape of the access ids `auth-method create` prints. */
export function newAccessId(): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  // 252 is the largest multiple of 36 below 256: rejecting bytes above it keeps the draw uniform.
  const out: string[] = [];
  while (out.length < 14) {
    for (const byte of randomBytes(32)) if (byte < 252 && out.length < 14) out.push(alphabet[byte % 36]);
  }
  return `p-${out.join("")}`;
}

export const ACCESS_ID_PATTERN = /^p-[a-z0-9]{6,64}$/;

/** A fresh signing key pair for an access id: EC P-256 (ES256) by default, or RSA 2048 (RS256). */
export async function generateAccessKeyPair(type: AccessKeyType): Promise<{ publicKeyPem: string; privateKeyPem: string }> {
  const pair =
    type === "rsa"
      ? await generate("rsa", { modulusLength: 2048 })
      : await generate("ec", { namedCurve: "prime256v1" });
  return {
    publicKeyPem: pair.publicKey.export({ type: "spki", format: "pem" }).toString(),
    privateKeyPem: pair.privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
  };
}

/** The JWS algorithm an access id's key signs with. */
export function assertionAlgorithm(key: KeyObject): "ES256" | "RS256" | undefined {
  if (key.asymmetricKeyType === "rsa") return "RS256";
  if (key.asymmetricKeyType === "ec" && key.asymmetricKeyDetails?.namedCurve === "prime256v1") return "ES256";
  return undefined;
}

/** Does the private key belong to the stored public key? Compares the DER SubjectPublicKeyInfo of both. */
export function keyPairMatches(privateKey: KeyObject, publicKeyPem: string): boolean {
  const derived = createPublicKey(privateKey).export({ type: "spki", format: "der" });
  const stored = createPublicKey(publicKeyPem).export({ type: "spki", format: "der" });
  return derived.equals(stored);
}
