/** Checks of client input shared by backends: names, PEM material, lists. Each failure is a 400 naming the field. */
import { X509Certificate, createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";
import { badRequest } from "./errors.js";
import { redact } from "../kube/errors.js";

/** Vault's GenericNameRegex, for role and config names. */
const NAME = /^\w(?:[\w.-]{0,126}\w)?$/;

export const isValidName = (name: string) => NAME.test(name);

/** A client-supplied name for an error message: quoted, shortened, and never a token. */
export const quoted = (name: string) => JSON.stringify(redact(name).slice(0, 128));

export const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]+?-----END \1-----/g;

/**
 * PEM as given, or base64 of PEM (how `auth-method create k8s` hands out
 * `prv_key` and how `--k8s-ca-cert` is passed). "" stays "".
 */
export function pemInput(value: unknown, field: string): string {
  if (value === undefined || value === null || value === "") return "";
  if (typeof value !== "string") throw badRequest(`field "${field}" must be a string`);
  const text = value.includes("-----BEGIN") ? value : Buffer.from(value.trim(), "base64").toString("utf8");
  const blocks = pemBlocks(text);
  if (blocks.length === 0) throw badRequest(`field "${field}" must be PEM encoded (or base64 of PEM)`);
  return blocks.map((b) => b.text).join("\n") + "\n";
}

function pemBlocks(text: string): { label: string; text: string }[] {
  return [...text.matchAll(PEM_BLOCK)].map((m) => ({ label: m[1], text: m[0] }));
}

/** A CA bundle: one or more certificates, each of which must parse. */
export function checkCertificates(pem: string, field: string): void {
  for (const block of pemBlocks(pem)) {
    if (block.label !== "CERTIFICATE") throw badRequest(`field "${field}" must contain only certificates`);
    try {
      new X509Certificate(block.text);
    } catch {
      throw badRequest(`field "${field}" contains a certificate that does not parse`);
    }
  }
}

/**
 * Public keys for local signature checks. Vault's `pem_keys` accepts public
 * keys and certificates; a private key is refused so that one is never stored
 * where it would be returned on read.
 */
export function publicKeysOf(pems: string[], field: string): KeyObject[] {
  return pems.flatMap((entry, i) =>
    pemBlocks(entry).map((block) => {
      try {
        if (block.label === "CERTIFICATE") return new X509Certificate(block.text).publicKey;
        if (block.label === "PUBLIC KEY" || block.label === "RSA PUBLIC KEY") return createPublicKey(block.text);
      } catch {
        throw badRequest(`field "${field}" entry ${i} does not parse`);
      }
      throw badRequest(`field "${field}" entry ${i} must be a public key or a certificate`);
    }),
  );
}

/** Parses a private key (PKCS#8, PKCS#1 or SEC1 PEM); 400 naming the field. */
export function privateKeyOf(pem: string, field: string): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch {
    throw badRequest(`field "${field}" must be a PEM private key`);
  }
}

/** A client certificate and its key must belong together, or every TokenReview would fail the TLS handshake. */
export function checkClientKeyPair(certPem: string, keyPem: string): void {
  checkCertificates(certPem, "client_cert");
  const key = privateKeyOf(keyPem, "client_key");
  const cert = new X509Certificate(pemBlocks(certPem)[0].text);
  if (!cert.checkPrivateKey(key)) throw badRequest(`field "client_key" does not match "client_cert"`);
}

/** A list of strings from a `string_list` field (already coerced by the core), trimmed, without blanks. */
export function stringList(value: unknown, field: string): string[] {
  if (value === undefined || value === null) return [];
  const list = typeof value === "string" ? value.split(",") : value;
  if (!Array.isArray(list) || !list.every((v) => typeof v === "string")) {
    throw badRequest(`field "${field}" must be a list of strings`);
  }
  return list.map((v) => v.trim()).filter((v) => v !== "");
}
