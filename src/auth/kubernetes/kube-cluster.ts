import type { JSONWebKeySet, JWK } from "jose";
import { LatchkeyError, permissionDenied, upstreamError } from "../../core/errors.js";
import type { Logger } from "../../core/types.js";
import { createKubeClient, type KubeClient, type KubeClientConfig } from "../../kube/client.js";
import { KubeApiError, KubeUnavailableError, redact } from "../../kube/errors.js";
import { isRecord } from "../../core/input.js";
import type { LocalServiceAccountFiles } from "./local-files.js";
import type { ClusterConfig, ClusterConnection, ClusterConnector, ReviewResult } from "./types.js";

/** Which identity called the API server; decides what a 401 means and what the operator should check. */
export type ReviewerIdentity = "token_reviewer_jwt" | "client_certificate" | "local_token" | "client_jwt";

const JWKS_MAX_AGE_MS = 5 * 60_000;
/** An unknown `kid` may mean the cluster rotated its keys; refetch, but not more often than this. */
const JWKS_MIN_REFRESH_MS = 30_000;
const FETCH_TIMEOUT_MS = 10_000;
/** The API server serves /openid/v1/jwks only as `application/jwk-set+json` and answers `application/json` alone with 406. */
const JWKS_ACCEPT = "application/jwk-set+json, application/json";

export interface KubeConnectorOptions {
  local: LocalServiceAccountFiles;
  logger: Logger;
  /** Milliseconds. */
  now?: () => number;
  createClient?: (config: KubeClientConfig) => KubeClient;
  /** For a `jwks_url` that is not on the API server. */
  fetchJson?: (url: string, signal?: AbortSignal) => Promise<unknown>;
}

/**
 * Connects cluster configs to their API servers through the kube client.
 * The reviewer identity is chosen per call, in Vault's order:
 * `token_reviewer_jwt`; a client certificate; the server's own
 * service-account token (unless `disable_local_ca_jwt`); else the client's own
 * JWT. The CA is `kubernetes_ca_cert`, else the local `ca.crt`; the client is
 * rebuilt when the CA file changes.
 */
export function createKubeConnector(opts: KubeConnectorOptions): ClusterConnector {
  const now = opts.now ?? Date.now;
  const createClient = opts.createClient ?? createKubeClient;
  const fetchJson = opts.fetchJson ?? fetchJsonOverHttps;

  return (config, name) => {
    // One pooled client serves every identity: each call names its bearer.
    let current: { ca: string | undefined; client: KubeClient } | undefined;
    let jwksCache: { at: number; keys: JSONWebKeySet } | undefined;

    async function client(): Promise<KubeClient> {
      if (config.kubernetesHost === "") {
        throw upstreamError(502, `kubernetes config "${name}" has no kubernetes_host to call`);
      }
      const ca = config.kubernetesCaCert || (config.disableLocalCaJwt ? undefined : await opts.local.caCert());
      if (current && current.ca === ca) return current.client;
      if (current) void current.client.close().catch(() => undefined);
      const built = createClient({
        host: config.kubernetesHost,
        caPem: ca,
        ...(config.clientCert !== "" && { clientCertPem: config.clientCert, clientKeyPem: config.clientKey }),
      });
      current = { ca, client: built };
      return built;
    }

    async function identity(clientJwt: string | undefined): Promise<{ kind: ReviewerIdentity; token: string }> {
      if (config.tokenReviewerJwt !== "") return { kind: "token_reviewer_jwt", token: config.tokenReviewerJwt };
      if (config.clientCert !== "") return { kind: "client_certificate", token: "" };
      const local = config.disableLocalCaJwt ? undefined : await opts.local.token();
      if (local) return { kind: "local_token", token: local };
      return { kind: "client_jwt", token: clientJwt ?? "" };
    }

    async function call<T>(
      operation: KubeOperation,
      clientJwt: string | undefined,
      signal: AbortSignal | undefined,
      fn: (c: KubeClient, opts: { signal?: AbortSignal; bearerToken?: string }) => Promise<T>,
    ): Promise<T> {
      const who = await identity(clientJwt);
      try {
        const c = await client();
        return await fn(c, { signal, bearerToken: who.token || undefined });
      } catch (err) {
        throw kubeFailure(err, { operation, identity: who.kind, host: config.kubernetesHost, configName: name, signal, logger: opts.logger });
      }
    }

    async function fetchKeySet(signal: AbortSignal | undefined): Promise<JSONWebKeySet> {
      const url = config.jwksUrl || (await discoverJwksUri(signal));
      const onApiServer = apiServerPath(config, url);
      const doc =
        onApiServer !== undefined
          ? await call("JWKS fetch", undefined, signal, (c, o) => c.get<unknown>(onApiServer, { ...o, accept: JWKS_ACCEPT }))
          : await fetchJson(url, signal).catch((err: unknown) => {
              throw kubeFailure(err, { operation: "JWKS fetch", host: url, configName: name, signal, logger: opts.logger });
            });
      if (!isRecord(doc) || !Array.isArray(doc.keys)) {
        opts.logger.error({ config: name, url }, "kubernetes JWKS is not a JSON Web Key Set");
        throw upstreamError(502, `kubernetes JWKS fetch failed: ${url} is not a JSON Web Key Set`);
      }
      return { keys: doc.keys.filter(isJwk) };
    }

    async function discoverJwksUri(signal: AbortSignal | undefined): Promise<string> {
      const doc = await call("OIDC discovery", undefined, signal, (c, o) =>
        c.get<unknown>("/.well-known/openid-configuration", o),
      );
      if (!isRecord(doc) || typeof doc.jwks_uri !== "string") {
        opts.logger.error({ config: name }, "kubernetes OIDC discovery document has no jwks_uri");
        throw upstreamError(502, "kubernetes OIDC discovery failed: the discovery document has no jwks_uri");
      }
      return doc.jwks_uri;
    }

    const connection: ClusterConnection = {
      reviewer: {
        async review(jwt, audiences, signal): Promise<ReviewResult> {
          const status = await call("TokenReview", jwt, signal, (c, o) => c.tokenReview(jwt, audiences, o));
          return {
            authenticated: status.authenticated,
            username: status.user?.username,
            uid: status.user?.uid,
            extra: status.user?.extra,
            audiences: status.audiences,
            error: status.error,
          };
        },
      },
      namespaces: {
        async labels(namespace, signal, clientJwt) {
          const ns = await call("namespace lookup", clientJwt, signal, (c, o) => c.getNamespace(namespace, o));
          return ns ? (ns.metadata.labels ?? {}) : undefined;
        },
      },
      jwks: {
        async keySet(refresh, caller) {
          const age = jwksCache ? now() - jwksCache.at : Infinity;
          if (jwksCache && age < JWKS_MAX_AGE_MS && (!refresh || age < JWKS_MIN_REFRESH_MS)) return jwksCache.keys;
          // The signal is read only for a fetch: a login's client-gone signal is made on first use.
          const keys = await fetchKeySet(caller.signal);
          jwksCache = { at: now(), keys };
          return keys;
        },
      },
      async close() {
        await current?.client.close();
      },
    };
    return connection;
  };
}

/** Keys jose can read; anything else in the set is ignored, as jose's own JWKS fetcher does with unusable keys. */
function isJwk(value: unknown): value is JWK {
  return isRecord(value) && typeof value.kty === "string";
}

/** The path of `url` on the config's API server (so it is fetched with its CA and identity), if it is there. */
function apiServerPath(config: ClusterConfig, url: string): string | undefined {
  if (config.kubernetesHost === "") return undefined;
  const base = config.kubernetesHost.replace(/\/+$/, "");
  if (!url.startsWith(`${base}/`)) return undefined;
  return url.slice(base.length);
}

async function fetchJsonOverHttps(url: string, signal?: AbortSignal): Promise<unknown> {
  const timeout = AbortSignal.timeout(FETCH_TIMEOUT_MS);
  const res = await fetch(url, {
    headers: { accept: JWKS_ACCEPT },
    signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
  });
  if (!res.ok) throw new Error(`${url} answered ${res.status}`);
  return res.json();
}

export type KubeOperation = "TokenReview" | "namespace lookup" | "OIDC discovery" | "JWKS fetch";

const FORBIDDEN: Record<KubeOperation, string> = {
  TokenReview: "kubernetes TokenReview failed: the reviewer identity is not allowed to create tokenreviews (does it have system:auth-delegator?)",
  "namespace lookup": "kubernetes namespace lookup failed: the reviewer identity is not allowed to get namespaces (needed by bound_service_account_namespace_selector)",
  "OIDC discovery": "kubernetes OIDC discovery failed: the reviewer identity may not read /.well-known/openid-configuration (system:service-account-issuer-discovery)",
  "JWKS fetch": "kubernetes JWKS fetch failed: the reviewer identity may not read the JWKS (system:service-account-issuer-discovery)",
};

const IDENTITY_HINT: Record<ReviewerIdentity, string> = {
  token_reviewer_jwt: "token_reviewer_jwt",
  client_certificate: "client_cert",
  local_token: "the server's service-account token",
  client_jwt: "the reviewer identity",
};

export interface KubeFailureContext {
  operation: KubeOperation;
  /** Absent for calls made without one (a `jwks_url` off the API server). */
  identity?: ReviewerIdentity;
  host: string;
  configName: string;
  signal?: AbortSignal;
  logger: Logger;
}

/**
 * Maps a failed Kubernetes call to what the client sees. Failures of the
 * gateway's own identity or of the API server are operator problems: logged
 * at error level and answered 502 (504 on timeout, 503 when still throttled
 * after the client's retries), naming the cause. When the client's own JWT was
 * the reviewer, a 401 is the client's: 403. Never a 500, never a token.
 */
export function kubeFailure(err: unknown, ctx: KubeFailureContext): LatchkeyError {
  if (err instanceof LatchkeyError) return err;
  const operator = (status: 502 | 503 | 504, message: string) => {
    ctx.logger.error(
      { config: ctx.configName, host: ctx.host, operation: ctx.operation, identity: ctx.identity, cause: describe(err) },
      message,
    );
    return upstreamError(status, message, err);
  };
  const op = `kubernetes ${ctx.operation} failed`;
  if (err instanceof KubeApiError) {
    if (err.status === 401) {
      if (ctx.identity === "client_jwt") return permissionDenied("token not authenticated");
      const hint = ctx.identity ? `; check ${IDENTITY_HINT[ctx.identity]}` : "";
      return operator(502, `${op}: the API server rejected the reviewer identity (401 Unauthorized)${hint}`);
    }
    if (err.status === 403) return operator(502, FORBIDDEN[ctx.operation]);
    if (err.status === 429) return operator(503, `${op}: the API server kept throttling (429 Too Many Requests) after retries`);
    return operator(502, `${op}: the API server answered ${err.status} ${err.reason}`);
  }
  if (err instanceof KubeUnavailableError) {
    if (err.kind === "timeout") return operator(504, `${op}: ${ctx.host} did not answer in time`);
    return operator(502, `${op}: ${ctx.host} is unreachable`);
  }
  if (ctx.signal?.aborted) return upstreamError(504, `${op}: the request was cancelled`);
  return operator(502, `${op}: ${describe(err)}`);
}

/** A cause for logs and messages, with anything shaped like a token removed. */
function describe(err: unknown): string {
  const text = err instanceof Error ? `${err.message}${err.cause instanceof Error ? `: ${err.cause.message}` : ""}` : String(err);
  return redact(text).slice(0, 300);
}
