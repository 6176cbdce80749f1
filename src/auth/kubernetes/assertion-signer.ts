import { randomUUID } from "node:crypto";
import { SignJWT } from "jose";
import { upstreamError } from "../../core/errors.js";
import { assertionAlgorithm } from "./access-keys.js";
import { ASSERTION_ISSUER, ASSERTION_TYPE } from "./assertion.js";
import { serviceAccountUsername } from "./claims.js";
import { privateKeyOf } from "../../core/input.js";
import type { ServiceAccountClaims, VerifiedIdentity } from "./types.js";
import { verifyWithCluster, type Cluster, type VerifyOptions } from "./verify.js";

export interface SignedLoginRequest {
  jwt: string;
  claims: ServiceAccountClaims;
  /** A gateway config: it carries `accessId`, `signingKey` and `tokenExp`. */
  cluster: Cluster;
  /** Add the namespace's labels to the assertion, for a role with a namespace selector. */
  namespaceLabels: boolean;
}

/**
 * The signing half of an access-id login: verifies the pod's JWT against the
 * cluster with the gateway config, then signs what it verified with the access
 * id's private key. Everything here needs the cluster and the private key;
 * nothing here decides whether the login is allowed.
 */
export async function signVerifiedLogin(req: SignedLoginRequest, opts: VerifyOptions): Promise<string> {
  const identity = await verifyWithCluster(req.jwt, req.claims, req.cluster, opts);
  if (req.namespaceLabels) {
    const labels = await req.cluster.connection.namespaces.labels(identity.namespace, opts.caller.signal, req.jwt);
    if (labels) identity.namespaceLabels = labels;
  }
  const { config, name } = req.cluster;
  return signAssertion(identity, {
    accessId: config.accessId,
    configName: name,
    privateKeyPem: config.signingKey,
    ttlSeconds: config.tokenExp,
    nowSeconds: Math.floor(opts.now() / 1000),
  });
}

export interface AssertionSigning {
  accessId: string;
  configName: string;
  privateKeyPem: string;
  ttlSeconds: number;
  nowSeconds: number;
}

/** Signs a login assertion (the format is described in assertion.ts). */
export async function signAssertion(identity: VerifiedIdentity, s: AssertionSigning): Promise<string> {
  const key = privateKeyOf(s.privateKeyPem, "signing_key");
  const alg = assertionAlgorithm(key);
  // Checked when the config was written; a stored key that cannot sign is a broken gateway config.
  if (!alg) throw upstreamError(502, `the signing key of config "${s.configName}" cannot sign login assertions`);
  return new SignJWT({
    config_name: s.configName,
    "kubernetes.io": {
      namespace: identity.namespace,
      serviceaccount: { name: identity.name, uid: identity.uid },
      ...(identity.podName !== undefined && { pod: { name: identity.podName, uid: identity.podUid ?? "" } }),
      ...(identity.secretName !== "" && { secret: { name: identity.secretName } }),
    },
    k8s_aud: identity.audiences,
    ...(identity.namespaceLabels && { namespace_labels: identity.namespaceLabels }),
  })
    .setProtectedHeader({ alg, typ: ASSERTION_TYPE, kid: s.accessId })
    .setIssuer(ASSERTION_ISSUER)
    .setAudience(s.accessId)
    .setSubject(serviceAccountUsername(identity.namespace, identity.name))
    .setIssuedAt(s.nowSeconds)
    .setExpirationTime(s.nowSeconds + s.ttlSeconds)
    .setJti(randomUUID())
    .sign(key);
}
