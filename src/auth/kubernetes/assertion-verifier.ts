import { createPublicKey } from "node:crypto";
import { jwtVerify } from "jose";
import { permissionDenied } from "../../core/errors.js";
import { assertionAlgorithm } from "./access-keys.js";
import { ASSERTION_ISSUER, ASSERTION_TYPE, MAX_ASSERTION_SECONDS } from "./assertion.js";
import { serviceAccountUsername } from "./claims.js";
import { isRecord } from "../../core/input.js";
import type { VerifiedIdentity } from "./types.js";

export interface AssertionExpectation {
  accessId: string;
  /** The access id's stored SPKI PEM public key. */
  publicKeyPem: string;
  configName: string;
}

const notValid = () => permissionDenied("login assertion not valid");

/**
 * The verifying half of an access-id login: checks a login assertion against
 * the access id's public key alone (no cluster access, no private key) and
 * returns the identity it asserts. Any failure is 403.
 */
export async function verifyAssertion(
  assertion: string,
  expected: AssertionExpectation,
  nowSeconds: number,
): Promise<VerifiedIdentity> {
  const key = createPublicKey(expected.publicKeyPem);
  const alg = assertionAlgorithm(key);
  if (!alg) throw notValid();
  let payload: Record<string, unknown>;
  try {
    const verified = await jwtVerify(assertion, key, {
      algorithms: [alg],
      typ: ASSERTION_TYPE,
      issuer: ASSERTION_ISSUER,
      audience: expected.accessId,
      currentDate: new Date(nowSeconds * 1000),
      clockTolerance: 5,
      requiredClaims: ["exp", "iat", "jti", "sub"],
    });
    if (verified.protectedHeader.kid !== expected.accessId) throw notValid();
    payload = verified.payload;
  } catch {
    throw notValid();
  }
  const { exp, iat } = payload;
  if (typeof exp !== "number" || typeof iat !== "number" || exp - iat > MAX_ASSERTION_SECONDS) throw notValid();
  if (payload.config_name !== expected.configName) throw notValid();
  return identityOf(payload);
}

function identityOf(payload: Record<string, unknown>): VerifiedIdentity {
  const k8s = payload["kubernetes.io"];
  if (!isRecord(k8s) || !isRecord(k8s.serviceaccount)) throw notValid();
  const namespace = text(k8s.namespace);
  const name = text(k8s.serviceaccount.name);
  const uid = text(k8s.serviceaccount.uid);
  if (payload.sub !== serviceAccountUsername(namespace, name)) throw notValid();
  const identity: VerifiedIdentity = {
    namespace,
    name,
    uid,
    secretName: k8s.secret === undefined ? "" : isRecord(k8s.secret) ? text(k8s.secret.name) : fail(),
    audiences: strings(payload.k8s_aud),
  };
  if (k8s.pod !== undefined) {
    if (!isRecord(k8s.pod)) throw notValid();
    identity.podName = text(k8s.pod.name);
    identity.podUid = text(k8s.pod.uid);
  }
  if (payload.namespace_labels !== undefined) {
    if (!isRecord(payload.namespace_labels)) throw notValid();
    const labels: Record<string, string> = {};
    for (const [k, v] of Object.entries(payload.namespace_labels)) labels[k] = text(v, true);
    identity.namespaceLabels = labels;
  }
  return identity;
}

function text(value: unknown, emptyOk = false): string {
  if (typeof value !== "string" || (value === "" && !emptyOk)) throw notValid();
  return value;
}

function strings(value: unknown): string[] {
  if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) throw notValid();
  return value;
}

function fail(): never {
  throw notValid();
}
