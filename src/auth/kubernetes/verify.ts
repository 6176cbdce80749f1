import type { webcrypto } from "node:crypto";
import { createLocalJWKSet, errors as joseErrors, type JSONWebKeySet, type JWSHeaderParameters } from "jose";
import { permissionDenied, upstreamError } from "../../core/errors.js";
import type { Logger, SignalSource } from "../../core/types.js";
import { redact } from "../../kube/errors.js";
import { ALLOWED_ALGORITHMS, checkTokenTimes, serviceAccountUsername } from "./claims.js";
import { isRecord, publicKeysOf } from "../../core/input.js";
import { keyObjectOf, splitCompactJws, verifyCompactJws, type CompactJws } from "./jws.js";
import { reviewCacheKey, type ReviewCache } from "./review-cache.js";
import type { ClusterConfig, ClusterConnection, ReviewResult, ServiceAccountClaims, VerifiedIdentity } from "./types.js";

/** Vault's default issuer of legacy service-account tokens. */
export const DEFAULT_ISSUER = "kubernetes/serviceaccount";

const POD_NAME_EXTRA = "authentication.kubernetes.io/pod-name";
const POD_UID_EXTRA = "authentication.kubernetes.io/pod-uid";
/** Only legacy secret-based tokens carry it (projected tokens carry a `kubernetes.io` object instead). */
const LEGACY_SECRET_CLAIM = "kubernetes.io/serviceaccount/secret.name";
const PROJECTED_CLAIM = "kubernetes.io";

/** One cluster config and what talks to its cluster. */
export interface Cluster {
  name: string;
  config: ClusterConfig;
  connection: ClusterConnection;
  cache: ReviewCache;
}

export interface VerifyOptions {
  /** The audiences the role asks for; also sent with the TokenReview. */
  audiences: string[];
  /** Milliseconds. */
  now: () => number;
  logger: Logger;
  /**
   * The login request, whose `signal` is read only when a call leaves the
   * process: a JWKS login with the key set cached makes no signal at all.
   */
  caller: SignalSource;
}

const notAuthenticated = () => permissionDenied("token not authenticated");

/**
 * Verifies a service-account JWT against its cluster: issuer (when enabled),
 * the signature against `pem_keys` or the JWKS (`validation: jwks`), else a
 * TokenReview whose answer must name the same service account, uid, pod and
 * audiences as the JWT. Returns the identity the cluster vouches for.
 *
 * Without a TokenReview (`validation: jwks`) nothing else bounds a token's
 * life, so the verified payload's `exp`/`nbf`/`iat` are checked here, and a
 * token without `exp` passes only if it is a legacy secret-based one.
 */
export async function verifyWithCluster(
  jwt: string,
  claims: ServiceAccountClaims,
  cluster: Cluster,
  opts: VerifyOptions,
): Promise<VerifiedIdentity> {
  const { config } = cluster;
  if (!config.disableIssValidation && claims.issuer !== (config.issuer || DEFAULT_ISSUER)) {
    opts.logger.debug({ config: cluster.name }, "kubernetes login: issuer does not match the config");
    throw permissionDenied("issuer not authorized");
  }
  const { issuer: _issuer, subject: _subject, exp: _exp, nbf: _nbf, iat: _iat, ...identity } = claims;
  // Vault checks pem_keys locally before the TokenReview too; jwks mode has no TokenReview at all.
  if (config.pemKeys.length > 0 || config.validation === "jwks") {
    const payload = await verifySignature(jwt, cluster, opts);
    if (config.validation === "jwks") {
      checkLocalLifetime(payload, cluster.name, opts);
      return identity;
    }
  }

  const review = await reviewWithCache(jwt, claims, cluster, opts);
  checkReview(review, claims, opts);
  if (opts.audiences.length > 0) identity.audiences = (review.audiences ?? []).filter((a) => opts.audiences.includes(a));
  return identity;
}

async function reviewWithCache(jwt: string, claims: ServiceAccountClaims, cluster: Cluster, opts: VerifyOptions) {
  const ttlMs = cluster.config.reviewCacheTtl * 1000;
  const key = ttlMs > 0 ? reviewCacheKey(jwt, opts.audiences) : undefined;
  const cached = key === undefined ? undefined : cluster.cache.get(key);
  if (cached) return cached;
  const review = await cluster.connection.reviewer.review(jwt, opts.audiences, opts.caller.signal);
  if (key !== undefined && review.authenticated) {
    const until = opts.now() + ttlMs;
    // Never reuse a review past the token's own expiry.
    cluster.cache.set(key, review, claims.exp === undefined ? until : Math.min(until, claims.exp * 1000));
  }
  return review;
}

/** Vault's checks on the TokenReview status, plus the pod binding and audiences latchkey adds. */
function checkReview(review: ReviewResult, claims: ServiceAccountClaims, opts: VerifyOptions): void {
  const detail = (why: string) => opts.logger.debug({ namespace: claims.namespace, service_account: claims.name }, `kubernetes login: ${why}`);
  if (!review.authenticated) {
    detail(`TokenReview did not authenticate the token${review.error ? `: ${redact(review.error).slice(0, 200)}` : ""}`);
    throw notAuthenticated();
  }
  if (review.username !== serviceAccountUsername(claims.namespace, claims.name)) {
    detail("TokenReview username does not match the token's service account");
    throw notAuthenticated();
  }
  if (review.uid !== undefined && review.uid !== "" && review.uid !== claims.uid) {
    detail("TokenReview uid does not match the token's service account uid");
    throw notAuthenticated();
  }
  if (claims.podName !== undefined) {
    const podNames = review.extra?.[POD_NAME_EXTRA] ?? [];
    const podUids = review.extra?.[POD_UID_EXTRA];
    if (!podNames.includes(claims.podName) || (podUids !== undefined && !podUids.includes(claims.podUid ?? ""))) {
      detail("TokenReview does not confirm the token's pod");
      throw permissionDenied("pod not authorized");
    }
  }
  if (opts.audiences.length > 0 && !(review.audiences ?? []).some((a) => opts.audiences.includes(a))) {
    detail("TokenReview audiences do not intersect the role's");
    throw permissionDenied("audience not authorized");
  }
}

/**
 * A token checked only locally: its times (with the same leeway as the
 * unverified check at login), and an `exp`. Kubernetes mints legacy
 * secret-based tokens without `exp` (they live as long as their Secret), so,
 * as Vault does, those are accepted; every projected (bound) token has one,
 * so a projected token without `exp` was not minted by the API server's token
 * API and is refused.
 */
function checkLocalLifetime(payload: Uint8Array, configName: string, opts: VerifyOptions): void {
  const claims = verifiedClaims(payload);
  const time = (name: string): number | undefined => {
    const value = claims[name];
    if (value === undefined) return undefined;
    if (typeof value === "number" && Number.isFinite(value)) return value;
    opts.logger.debug({ config: configName }, `kubernetes login: verified token has a non-numeric "${name}"`);
    throw notAuthenticated();
  };
  const exp = time("exp");
  checkTokenTimes({ exp, nbf: time("nbf"), iat: time("iat") }, Math.floor(opts.now() / 1000));
  if (exp !== undefined) return;
  const secretName = claims[LEGACY_SECRET_CLAIM];
  const legacy = claims[PROJECTED_CLAIM] === undefined && typeof secretName === "string" && secretName !== "";
  if (!legacy) {
    opts.logger.debug({ config: configName }, "kubernetes login: token without exp is not a legacy secret-based token");
    throw notAuthenticated();
  }
}

function verifiedClaims(payload: Uint8Array): Record<string, unknown> {
  let claims: unknown;
  try {
    claims = JSON.parse(Buffer.from(payload).toString("utf8"));
  } catch {
    throw notAuthenticated();
  }
  if (!isRecord(claims)) throw notAuthenticated();
  return claims;
}

/**
 * The JWT's signature must verify with one of `pem_keys`, or with the
 * cluster's JWKS (refetched once for an unknown key). Returns the payload
 * that the signature covers, for checks that must not rest on unverified bytes.
 */
async function verifySignature(jwt: string, cluster: Cluster, opts: VerifyOptions): Promise<Uint8Array> {
  const jws = splitCompactJws(jwt);
  // The login parsed the JWT before; this is no JWS only if that check let something through.
  if (!jws) throw notAuthenticated();
  const pemKeys = publicKeysOf(cluster.config.pemKeys, "pem_keys");
  if (pemKeys.length > 0) {
    if (pemKeys.some((key) => verifyCompactJws(jws, key, ALLOWED_ALGORITHMS))) return jws.payload;
    opts.logger.debug({ config: cluster.name }, "kubernetes login: signature does not verify with pem_keys");
    throw notAuthenticated();
  }
  for (const refresh of [false, true]) {
    const keySet = await cluster.connection.jwks.keySet(refresh, opts.caller);
    const outcome = await verifyWithKeySet(jws, keySet, cluster.name, opts.logger);
    if (outcome === "verified") return jws.payload;
    if (outcome === "failed") break;
  }
  opts.logger.debug({ config: cluster.name }, "kubernetes login: signature does not verify with the cluster's JWKS");
  throw notAuthenticated();
}

/**
 * The key set fetched (or configured) once, imported once: jose imports keys
 * lazily and caches them per local set, so a set made per login re-imports
 * the RSA key every time.
 */
const localSets = new WeakMap<JSONWebKeySet, ReturnType<typeof createLocalJWKSet>>();

function localSet(keySet: JSONWebKeySet): ReturnType<typeof createLocalJWKSet> {
  let keys = localSets.get(keySet);
  if (!keys) {
    keys = createLocalJWKSet(keySet);
    localSets.set(keySet, keys);
  }
  return keys;
}

/** jose picks the set's key for the header's `kid` and `alg`; the signature is checked with node:crypto (jws.ts). */
async function verifyWithKeySet(
  jws: CompactJws,
  keySet: JSONWebKeySet,
  configName: string,
  logger: Logger,
): Promise<"verified" | "failed" | "no-key"> {
  let keys: ReturnType<typeof createLocalJWKSet>;
  try {
    keys = localSet(keySet);
  } catch (err) {
    const message = `kubernetes JWKS of config "${configName}" is not a valid JSON Web Key Set`;
    logger.error({ config: configName }, message);
    throw upstreamError(502, message, err);
  }
  const verifies = (key: unknown) => verifyCompactJws(jws, keyObjectOf(key as webcrypto.CryptoKey), ALLOWED_ALGORITHMS);
  try {
    return verifies(await keys(jws.header as JWSHeaderParameters)) ? "verified" : "failed";
  } catch (err) {
    if (err instanceof joseErrors.JWKSNoMatchingKey) return "no-key";
    // Without a `kid` several keys may fit; jose hands them out to try one by one.
    if (err instanceof joseErrors.JWKSMultipleMatchingKeys) {
      for await (const key of err) if (verifies(key)) return "verified";
    }
    return "failed";
  }
}
