import { createPublicKey } from "node:crypto";
import { SignJWT, compactVerify, exportJWK, exportSPKI, generateKeyPair, type CryptoKey, type JSONWebKeySet } from "jose";
import { notFound, unsupportedOperation } from "../../core/errors.js";
import { coerceFields } from "../../core/fields.js";
import { compileRoutes, matchRoute } from "../../core/router.js";
import type { Backend, LogicalRequest, LogicalResponse, Logger, Operation } from "../../core/types.js";
import { createMemoryStore } from "../../storage/memory.js";
import type { StorageView } from "../../storage/types.js";
import { createView } from "../../storage/view.js";
import { createKubernetesBackend } from "./backend.js";
import type { LocalServiceAccountFiles } from "./local-files.js";
import type { ClusterConfig, ClusterConnection, ClusterConnector, ReviewResult } from "./types.js";

/** Test-only: a Unix time in seconds the harness clock starts at. */
export const T0 = 1_714_557_600;
export const HOST = "https://k8s.test:6443";
export const API_AUDIENCE = "https://kubernetes.default.svc";

/** A config with nothing set, for tests that build one by hand. */
export const EMPTY_CONFIG: ClusterConfig = {
  kubernetesHost: "",
  kubernetesCaCert: "",
  tokenReviewerJwt: "",
  pemKeys: [],
  issuer: "",
  disableIssValidation: true,
  disableLocalCaJwt: false,
  clientCert: "",
  clientKey: "",
  validation: "tokenreview",
  jwksUrl: "",
  reviewCacheTtl: 0,
  accessId: "",
  signingKey: "",
  tokenExp: 300,
};

export interface LogRecord {
  level: "debug" | "info" | "warn" | "error";
  obj: object | string;
  msg?: string;
}

export function recordingLogger(): Logger & { records: LogRecord[]; text(): string } {
  const records: LogRecord[] = [];
  const at = (level: LogRecord["level"]) => (obj: object | string, msg?: string) => {
    records.push({ level, obj, msg });
  };
  return {
    records,
    debug: at("debug"),
    info: at("info"),
    warn: at("warn"),
    error: at("error"),
    text: () => JSON.stringify(records),
  };
}

export interface ClusterKeys {
  privateKey: CryptoKey;
  publicKeyPem: string;
  jwks: JSONWebKeySet;
  kid: string;
  alg: "RS256" | "ES256";
}

export async function clusterKeys(alg: "RS256" | "ES256" = "RS256", kid = "cluster-key-1"): Promise<ClusterKeys> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: "sig" };
  return { privateKey, publicKeyPem: await exportSPKI(publicKey), jwks: { keys: [jwk] }, kid, alg };
}

export interface TokenSpec {
  namespace?: string;
  name?: string;
  uid?: string;
  secretName?: string;
  pod?: { name: string; uid: string };
  aud?: string | string[];
  iss?: string;
  /** Seconds relative to the harness start; null leaves the claim out. */
  exp?: number | null;
  iat?: number | null;
  nbf?: number | null;
}

/** A legacy secret-based service-account token (no exp, no aud), as Kubernetes before 1.21 minted them. */
export function legacyToken(keys: ClusterKeys, spec: TokenSpec = {}): Promise<string> {
  const namespace = spec.namespace ?? "default";
  const name = spec.name ?? "myapp";
  return sign(keys, {
    iss: spec.iss ?? "kubernetes/serviceaccount",
    "kubernetes.io/serviceaccount/namespace": namespace,
    "kubernetes.io/serviceaccount/secret.name": spec.secretName ?? `${name}-token-pd21c`,
    "kubernetes.io/serviceaccount/service-account.name": name,
    "kubernetes.io/serviceaccount/service-account.uid": spec.uid ?? "aa9aa8ff-98d0-11e7-9bb7-0800276d99bf",
    sub: `system:serviceaccount:${namespace}:${name}`,
    ...(spec.aud !== undefined && { aud: spec.aud }),
    ...times(spec, null),
  });
}

/** A projected (bound) token, pod-bound when `pod` is given. */
export function projectedToken(keys: ClusterKeys, spec: TokenSpec = {}): Promise<string> {
  const namespace = spec.namespace ?? "default";
  const name = spec.name ?? "myapp";
  return sign(keys, {
    aud: spec.aud ?? [API_AUDIENCE],
    iss: spec.iss ?? "https://kubernetes.default.svc.cluster.local",
    "kubernetes.io": {
      namespace,
      serviceaccount: { name, uid: spec.uid ?? "aa9aa8ff-98d0-11e7-9bb7-0800276d99bf" },
      ...(spec.pod && { pod: spec.pod }),
    },
    sub: `system:serviceaccount:${namespace}:${name}`,
    ...times(spec, 3600),
  });
}

function times(spec: TokenSpec, defaultExp: number | null): Record<string, number> {
  const out: Record<string, number> = {};
  const exp = spec.exp === undefined ? defaultExp : spec.exp;
  const iat = spec.iat === undefined ? (defaultExp === null ? null : 0) : spec.iat;
  const nbf = spec.nbf === undefined ? iat : spec.nbf;
  if (exp !== null) out.exp = T0 + exp;
  if (iat !== null) out.iat = T0 + iat;
  if (nbf !== null) out.nbf = T0 + nbf;
  return out;
}

function sign(keys: ClusterKeys, payload: Record<string, unknown>): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ alg: keys.alg, kid: keys.kid }).sign(keys.privateKey);
}

/**
 * A Kubernetes API server as the kubernetes auth method sees it: TokenReview
 * that checks the signature, expiry and deleted service accounts like the real
 * one, namespace labels, a JWKS. Failures can be injected; calls are counted.
 */
export interface FakeCluster {
  keys: ClusterKeys;
  reviews: { audiences: string[] }[];
  /** Replaces the realistic review (after it is counted). */
  reviewOverride?: (jwt: string, audiences: string[]) => Promise<ReviewResult>;
  deletedUids: Set<string>;
  namespaceLabels: Record<string, Record<string, string>>;
  namespaceLookups: number;
  namespaceOverride?: () => Promise<Record<string, string> | undefined>;
  jwksFetches: number;
  jwks: JSONWebKeySet;
  /** Milliseconds; the harness clock. */
  now: () => number;
  connection(): ClusterConnection;
}

export function fakeCluster(keys: ClusterKeys, now: () => number): FakeCluster {
  const cluster: FakeCluster = {
    keys,
    reviews: [],
    deletedUids: new Set(),
    namespaceLabels: {},
    namespaceLookups: 0,
    jwksFetches: 0,
    jwks: keys.jwks,
    now,
    connection: () => ({
      reviewer: {
        async review(jwt, audiences) {
          cluster.reviews.push({ audiences });
          if (cluster.reviewOverride) return cluster.reviewOverride(jwt, audiences);
          return realisticReview(cluster, jwt, audiences);
        },
      },
      namespaces: {
        async labels(namespace) {
          cluster.namespaceLookups++;
          if (cluster.namespaceOverride) return cluster.namespaceOverride();
          return cluster.namespaceLabels[namespace];
        },
      },
      jwks: {
        async keySet() {
          cluster.jwksFetches++;
          return cluster.jwks;
        },
      },
      async close() {},
    }),
  };
  return cluster;
}

async function realisticReview(cluster: FakeCluster, jwt: string, audiences: string[]): Promise<ReviewResult> {
  let claims: Record<string, unknown>;
  try {
    const { payload } = await compactVerify(jwt, createPublicKey(cluster.keys.publicKeyPem));
    claims = JSON.parse(new TextDecoder().decode(payload)) as Record<string, unknown>;
  } catch {
    return { authenticated: false, error: "invalid bearer token" };
  }
  // The API server allows a minute of clock skew, as latchkey does.
  if (typeof claims.exp === "number" && (claims.exp + 60) * 1000 < cluster.now()) {
    return { authenticated: false, error: "token has expired" };
  }
  const k8s = claims["kubernetes.io"] as
    | { namespace: string; serviceaccount: { name: string; uid: string }; pod?: { name: string; uid: string } }
    | undefined;
  const namespace = k8s?.namespace ?? String(claims["kubernetes.io/serviceaccount/namespace"]);
  const name = k8s?.serviceaccount.name ?? String(claims["kubernetes.io/serviceaccount/service-account.name"]);
  const uid = k8s?.serviceaccount.uid ?? String(claims["kubernetes.io/serviceaccount/service-account.uid"]);
  if (cluster.deletedUids.has(uid)) return { authenticated: false, error: "service account has been deleted" };
  // Legacy tokens carry no aud; the API server treats them as meant for itself.
  const tokenAud = claims.aud === undefined ? [API_AUDIENCE] : ([claims.aud].flat() as string[]);
  const granted = audiences.length > 0 ? audiences.filter((a) => tokenAud.includes(a)) : tokenAud;
  if (granted.length === 0) return { authenticated: false, error: "token audiences do not match" };
  return {
    authenticated: true,
    username: `system:serviceaccount:${namespace}:${name}`,
    uid,
    extra: k8s?.pod
      ? { "authentication.kubernetes.io/pod-name": [k8s.pod.name], "authentication.kubernetes.io/pod-uid": [k8s.pod.uid] }
      : undefined,
    audiences: granted,
  };
}

export interface K8sHarness {
  backend: Backend;
  storage: StorageView;
  logger: ReturnType<typeof recordingLogger>;
  /** Fake clusters by `kubernetes_host`. */
  clusters: Map<string, FakeCluster>;
  connectionsBuilt: number;
  advance(ms: number): void;
  now(): number;
  call(operation: Operation, path: string, data?: Record<string, unknown>): Promise<LogicalResponse | undefined>;
  /** A write, `create` or `update` as the path's existence check decides. */
  write(path: string, data?: Record<string, unknown>): Promise<LogicalResponse | undefined>;
  login(data: Record<string, unknown>, remoteAddress?: string): Promise<LogicalResponse | undefined>;
  /** The path's existence check (create vs update for the ACL); undefined when it has none. */
  exists(path: string): Promise<boolean | undefined>;
}

export interface HarnessOptions {
  localFiles?: LocalServiceAccountFiles;
  mountPath?: string;
  env?: Record<string, string | undefined>;
  /** Replaces the fake clusters (e.g. the real connector over a fake kube client). */
  connector?: ClusterConnector;
  /** As for HA replicas: other servers write the mount's storage too. */
  sharedStorage?: boolean;
}

export async function createK8sHarness(keys: ClusterKeys, opts: HarnessOptions = {}): Promise<K8sHarness> {
  let time = T0 * 1000;
  const now = () => time;
  const logger = recordingLogger();
  const storage = createView(createMemoryStore(), "auth/k8s-test/");
  const clusters = new Map<string, FakeCluster>([[HOST, fakeCluster(keys, now)]]);
  const mountPath = opts.mountPath ?? "auth/kubernetes/";
  const harness: K8sHarness = {
    backend: createKubernetesBackend(
      {
        storage,
        mountPath,
        config: { defaultLeaseTtl: 0, maxLeaseTtl: 0, options: {} },
        logger,
        ...(opts.sharedStorage !== undefined && { sharedStorage: opts.sharedStorage }),
      },
      {
        now,
        env: opts.env ?? {},
        localFiles: opts.localFiles ?? { token: async () => undefined, caCert: async () => undefined },
        connector: (config, name) => {
          harness.connectionsBuilt++;
          if (opts.connector) return opts.connector(config, name);
          const cluster = clusters.get(config.kubernetesHost) ?? clusters.get(HOST);
          if (!cluster) throw new Error("no fake cluster");
          return cluster.connection();
        },
      },
    ),
    storage,
    logger,
    clusters,
    connectionsBuilt: 0,
    advance: (ms) => {
      time += ms;
    },
    now,
    call: (operation, path, data = {}) => invoke(operation, path, data),
    async write(path, data = {}) {
      const { req, def } = route(harness.backend, "update", path, data, storage, mountPath);
      const operation: Operation = def.exists && !(await def.exists(req)) ? "create" : "update";
      return invoke(operation, path, data);
    },
    login: (data, remoteAddress) => invoke("update", "login", data, remoteAddress),
    async exists(path) {
      const { req, def } = route(harness.backend, "update", path, {}, storage, mountPath);
      return def.exists?.(req);
    },
  };
  const invoke = async (operation: Operation, path: string, data: Record<string, unknown>, remoteAddress?: string) => {
    const { req, handler } = route(harness.backend, operation, path, data, storage, mountPath, remoteAddress);
    return handler(req);
  };
  return harness;
}

/** Routes as the core does: router, field coercion, the `create`→`update` fallback. */
function route(
  backend: Backend,
  operation: Operation,
  path: string,
  data: Record<string, unknown>,
  storage: StorageView,
  mountPath: string,
  remoteAddress = "10.0.0.7",
) {
  for (const compiled of compileRoutes(backend.paths)) {
    const params = matchRoute(compiled, path);
    if (!params) continue;
    const def = compiled.def;
    const handler = def.ops[operation] ?? (operation === "create" ? def.ops.update : undefined);
    if (!handler) throw unsupportedOperation(`unsupported operation ${operation} on "${path}"`);
    const req: LogicalRequest = {
      operation,
      path,
      params,
      data: coerceFields(def.fields, data),
      mountPath,
      connection: { remoteAddress },
      storage,
      requestId: "test-request",
    };
    return { req, handler, def };
  }
  throw notFound();
}
