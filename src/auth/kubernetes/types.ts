import type { JSONWebKeySet } from "jose";
import type { SignalSource } from "../../core/types.js";

/** How a cluster config checks a service-account token. */
export type ValidationMode = "tokenreview" | "jwks";

/**
 * One cluster config (`config` is the one named `default`, `config/<name>` the
 * others), as stored in the mount's barrier-encrypted view. PEM values are
 * stored decoded. `tokenReviewerJwt`, `clientKey` and `signingKey` are never
 * rendered on read.
 */
export interface ClusterConfig {
  kubernetesHost: string;
  kubernetesCaCert: string;
  tokenReviewerJwt: string;
  pemKeys: string[];
  issuer: string;
  disableIssValidation: boolean;
  disableLocalCaJwt: boolean;
  clientCert: string;
  clientKey: string;
  validation: ValidationMode;
  jwksUrl: string;
  /** Seconds a successful TokenReview of the same JWT is reused; 0 = never. */
  reviewCacheTtl: number;
  /** Set when this is a gateway config of an access id: logins through it are signed. */
  accessId: string;
  /** PKCS#8 PEM private key of the access id; only with `accessId`. */
  signingKey: string;
  /** Lifetime in seconds of the signed login assertion. */
  tokenExp: number;
}

export type AliasNameSource = "serviceaccount_uid" | "serviceaccount_name";

/** A role (`role/<name>`): who may log in, through which clusters, and what token they get. */
export interface Role {
  boundServiceAccountNames: string[];
  boundServiceAccountNamespaces: string[];
  /** The selector exactly as written (JSON or YAML); parsed again at login. */
  namespaceSelector: string;
  boundPodNames: string[];
  boundConfigNames: string[];
  audiences: string[];
  aliasNameSource: AliasNameSource;
  tokenTtl: number;
  tokenMaxTtl: number;
  tokenExplicitMaxTtl: number;
  tokenPeriod: number;
  tokenNumUses: number;
  tokenPolicies: string[];
  tokenType: "default" | "service" | "batch";
  tokenBoundCidrs: string[];
  tokenNoDefaultPolicy: boolean;
  /** Set for roles created through `access-id`: they log in only through that access id's configs. */
  accessId: string;
}

export type AccessKeyType = "ec" | "rsa";

/** An access id (`access-id/<id>`): only the public half of its signing key is kept. */
export interface AccessIdRecord {
  accessId: string;
  role: string;
  keyType: AccessKeyType;
  /** SPKI PEM. */
  publicKey: string;
  /** RFC 3339. */
  createdTime: string;
}

/** Who a service-account token speaks for. */
export interface ServiceAccountIdentity {
  namespace: string;
  name: string;
  uid: string;
  /** Legacy secret-based tokens (and projected tokens bound to a secret); "" otherwise. */
  secretName: string;
  /** Projected tokens bound to a pod. */
  podName?: string;
  podUid?: string;
  audiences: string[];
}

/** What the claims of a service-account JWT (legacy secret-based or projected) say, before anyone has verified them. */
export interface ServiceAccountClaims extends ServiceAccountIdentity {
  issuer?: string;
  subject?: string;
  /** Unix seconds. */
  exp?: number;
  nbf?: number;
  iat?: number;
}

/** A service-account identity after verification, as the role checks and the login response use it. */
export interface VerifiedIdentity extends ServiceAccountIdentity {
  /** Labels of the namespace, when the verifying side looked them up (signed logins with a namespace selector). */
  namespaceLabels?: Record<string, string>;
}

/** The `status` of an authentication.k8s.io/v1 TokenReview. */
export interface ReviewResult {
  authenticated: boolean;
  username?: string;
  uid?: string;
  extra?: Record<string, string[]>;
  audiences?: string[];
  error?: string;
}

/**
 * Reviews a JWT with the cluster (TokenReview). Throws a LatchkeyError: 502
 * when the gateway's own identity is refused or the API server is unreachable,
 * 503 when throttled, 403 when the client's own JWT was the reviewer and was refused.
 */
export interface TokenReviewer {
  review(jwt: string, audiences: string[], signal?: AbortSignal): Promise<ReviewResult>;
}

/**
 * Labels of a namespace, `undefined` when it does not exist. `clientJwt` is the
 * identity to use when the config has no reviewer identity of its own (Vault's
 * "client JWT as reviewer JWT" mode).
 */
export interface NamespaceLookup {
  labels(namespace: string, signal?: AbortSignal, clientJwt?: string): Promise<Record<string, string> | undefined>;
}

/** The cluster's service-account signing keys (`jwks_url` or OIDC discovery); `refresh` skips any cache. */
export interface JwksSource {
  /** `caller.signal` may be made when read: read it only when the set is fetched. */
  keySet(refresh: boolean, caller: SignalSource): Promise<JSONWebKeySet>;
}

/** What a login needs from one cluster config. */
export interface ClusterConnection {
  reviewer: TokenReviewer;
  namespaces: NamespaceLookup;
  jwks: JwksSource;
  close(): Promise<void>;
}

/** Builds the connection for a config; the backend caches it until the stored config changes. */
export type ClusterConnector = (config: ClusterConfig, name: string) => ClusterConnection;
