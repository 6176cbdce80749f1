import { setTimeout as sleep } from "node:timers/promises";
import { Agent, request as httpRequest } from "undici";
import { KubeApiError, KubeUnavailableError, isNotFound, redact, type KubeStatus } from "./errors.js";
import type { IssuedToken, Namespace, TokenRequestOptions, TokenReviewStatus } from "./types.js";

export interface KubeClientConfig {
  /** `https://host:port`, optionally with a path prefix (API proxies). */
  host: string;
  /** CA bundle that signed the API server's certificate; absent: the system's CAs. */
  caPem?: string;
  /** Bearer token. Mutually exclusive with `tokenProvider`; neither: anonymous or client-certificate auth. */
  token?: string;
  /** Called before every request, for tokens that rotate (projected service-account token files). */
  tokenProvider?: () => string | Promise<string>;
  clientCertPem?: string;
  clientKeyPem?: string;
  /** Per attempt, from sending the request to reading the whole body. Default 10 s. */
  timeoutMs?: number;
  /**
   * Bound on simultaneous requests (and connections) to the API server. Default 64:
   * a login storm's TokenReviews wait on the API server, not on latchkey, only when
   * latchkey may keep as many in flight as its clients send; the kube-apiserver's own
   * bound (`--max-requests-inflight`, default 400) stays far above it and answers 429 past it.
   */
  maxConcurrent?: number;
  /** Backoff on 429. Defaults: 4 attempts, 250 ms base, 5 s cap (also caps Retry-After). */
  retry?: { attempts?: number; baseDelayMs?: number; maxDelayMs?: number };
}

export type HttpMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

export type QueryValue = string | number | boolean | undefined;

export interface RequestOptions {
  signal?: AbortSignal;
  query?: Record<string, QueryValue>;
  /** Default `application/json`; PATCH takes `application/merge-patch+json` and friends. */
  contentType?: string;
  /** Default `application/json`. `/openid/v1/jwks` answers 406 to that and wants `application/jwk-set+json`. */
  accept?: string;
  /** The identity of this one call, overriding the client's `token`/`tokenProvider` (one pooled client, many reviewers). */
  bearerToken?: string;
}

/** The one client through which latchkey talks to a Kubernetes API server. */
export interface KubeClient {
  readonly host: string;
  /**
   * Sends one API call and returns the parsed JSON body (undefined for an empty
   * body). Retries 429 with backoff; throws KubeApiError for any other non-2xx
   * and KubeUnavailableError when the server cannot be reached in time.
   */
  request<T>(method: HttpMethod, path: string, body?: unknown, opts?: RequestOptions): Promise<T>;
  get<T>(path: string, opts?: RequestOptions): Promise<T>;
  create<T>(path: string, body: unknown, opts?: RequestOptions): Promise<T>;
  /** Resolves false when the object was already gone (404), so revocation can be repeated safely. */
  delete(path: string, opts?: RequestOptions): Promise<boolean>;
  /** Reviews `jwt` for `audiences` (empty: the API server's own) with this client's identity. */
  tokenReview(jwt: string, audiences: string[], opts?: RequestOptions): Promise<TokenReviewStatus>;
  /** Issues a token for a service account through its `token` subresource (TokenRequest). */
  createTokenRequest(
    namespace: string,
    serviceAccount: string,
    spec: TokenRequestOptions,
    opts?: RequestOptions,
  ): Promise<IssuedToken>;
  /** Undefined when the namespace does not exist. */
  getNamespace(name: string, opts?: RequestOptions): Promise<Namespace | undefined>;
  close(): Promise<void>;
}

const DEFAULTS = { timeoutMs: 10_000, maxConcurrent: 64, attempts: 4, baseDelayMs: 250, maxDelayMs: 5_000 };

/** Creates a client with its own keep-alive connection pool; `close()` it when done. */
export function createKubeClient(config: KubeClientConfig): KubeClient {
  if (config.token !== undefined && config.tokenProvider !== undefined) {
    throw new Error("kube client config: give either token or tokenProvider, not both");
  }
  const base = new URL(config.host);
  if (base.protocol !== "https:" && base.protocol !== "http:") {
    throw new Error(`kube client config: host must be an http(s) URL, got ${base.protocol}`);
  }
  const origin = base.origin;
  const prefix = base.pathname.replace(/\/+$/, "");
  const timeoutMs = config.timeoutMs ?? DEFAULTS.timeoutMs;
  const maxConcurrent = config.maxConcurrent ?? DEFAULTS.maxConcurrent;
  const attempts = Math.max(1, config.retry?.attempts ?? DEFAULTS.attempts);
  const baseDelayMs = config.retry?.baseDelayMs ?? DEFAULTS.baseDelayMs;
  const maxDelayMs = config.retry?.maxDelayMs ?? DEFAULTS.maxDelayMs;

  // One connection carries one request at a time (no pipelining), so the
  // connection bound is the concurrency bound; further requests queue.
  const agent = new Agent({
    connections: maxConcurrent,
    pipelining: 1,
    keepAliveTimeout: 30_000,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    connect: {
      timeout: timeoutMs,
      ca: config.caPem,
      cert: config.clientCertPem,
      key: config.clientKeyPem,
    },
  });

  async function bearer(): Promise<string | undefined> {
    if (config.tokenProvider) return (await config.tokenProvider()).trim();
    return config.token;
  }

  function url(path: string, query: Record<string, QueryValue> | undefined): string {
    if (!path.startsWith("/")) throw new Error(`kube request path must start with "/": ${path}`);
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value !== undefined) params.append(key, String(value));
    }
    const qs = params.toString();
    return `${origin}${prefix}${path}${qs ? `?${qs}` : ""}`;
  }

  async function attempt(
    method: HttpMethod,
    path: string,
    payload: string | undefined,
    opts: RequestOptions,
  ): Promise<{ status: number; text: string; retryAfter?: string; token?: string }> {
    opts.signal?.throwIfAborted();
    const token = opts.bearerToken ?? (await bearer());
    const headers: Record<string, string> = { accept: opts.accept ?? "application/json", "user-agent": "latchkey" };
    if (token) headers.authorization = `Bearer ${token}`;
    if (payload !== undefined) headers["content-type"] = opts.contentType ?? "application/json";
    try {
      // The agent's header and body timeouts bound the request: no timer or
      // signal of its own per request, which a login storm would pay for.
      const res = await httpRequest(url(path, opts.query), {
        method,
        headers,
        body: payload,
        signal: opts.signal,
        dispatcher: agent,
      });
      const text = await res.body.text();
      const retryAfter = res.headers["retry-after"];
      return {
        status: res.statusCode,
        text,
        retryAfter: Array.isArray(retryAfter) ? retryAfter[0] : retryAfter,
        token,
      };
    } catch (err) {
      if (opts.signal?.aborted) throw opts.signal.reason;
      if (isTimeout(err)) {
        throw new KubeUnavailableError("timeout", `${method} ${path} timed out after ${timeoutMs} ms`, { cause: err });
      }
      throw new KubeUnavailableError("network", `${method} ${path} to ${origin} failed: ${describe(err)}`, {
        cause: err,
      });
    }
  }

  async function request<T>(method: HttpMethod, path: string, body?: unknown, opts: RequestOptions = {}): Promise<T> {
    const payload = body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body);
    for (let n = 1; ; n++) {
      const res = await attempt(method, path, payload, opts);
      if (res.status >= 200 && res.status < 300) {
        if (res.text.length === 0) return undefined as T;
        try {
          return JSON.parse(res.text) as T;
        } catch {
          throw new KubeApiError(res.status, "InvalidResponse", "response body is not JSON", method, path);
        }
      }
      // 429 is the API server's max-in-flight / priority-and-fairness throttle:
      // it names a Retry-After and expects the client to come back.
      if (res.status === 429 && n < attempts) {
        const backoff = Math.min(maxDelayMs, baseDelayMs * 2 ** (n - 1));
        const hinted = retryAfterMs(res.retryAfter);
        await sleep(Math.min(maxDelayMs, hinted ?? backoff), undefined, { signal: opts.signal });
        continue;
      }
      throw apiError(res.status, res.text, method, path, [config.token, res.token]);
    }
  }

  return {
    host: config.host,
    request,
    get: (path, opts) => request("GET", path, undefined, opts),
    create: (path, body, opts) => request("POST", path, body, opts),
    async delete(path, opts) {
      try {
        await request("DELETE", path, undefined, opts);
        return true;
      } catch (err) {
        if (isNotFound(err)) return false;
        throw err;
      }
    },
    async tokenReview(jwt, audiences, opts) {
      const review = await request<{ status?: Partial<TokenReviewStatus> }>(
        "POST",
        "/apis/authentication.k8s.io/v1/tokenreviews",
        {
          apiVersion: "authentication.k8s.io/v1",
          kind: "TokenReview",
          spec: audiences.length > 0 ? { token: jwt, audiences } : { token: jwt },
        },
        opts,
      );
      return { ...review.status, authenticated: review.status?.authenticated === true };
    },
    async createTokenRequest(namespace, serviceAccount, spec, opts) {
      const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/serviceaccounts/${encodeURIComponent(serviceAccount)}/token`;
      const res = await request<{ status?: Partial<IssuedToken> }>(
        "POST",
        path,
        {
          apiVersion: "authentication.k8s.io/v1",
          kind: "TokenRequest",
          spec: {
            ...(spec.audiences && spec.audiences.length > 0 ? { audiences: spec.audiences } : {}),
            ...(spec.expirationSeconds !== undefined ? { expirationSeconds: spec.expirationSeconds } : {}),
            ...boundObjectRef(spec),
          },
        },
        opts,
      );
      if (!res.status?.token || !res.status.expirationTimestamp) {
        throw new KubeApiError(201, "InvalidResponse", "TokenRequest returned no token", "POST", path);
      }
      return { token: res.status.token, expirationTimestamp: res.status.expirationTimestamp };
    },
    async getNamespace(name, opts) {
      try {
        return await request<Namespace>("GET", `/api/v1/namespaces/${encodeURIComponent(name)}`, undefined, opts);
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    },
    close: () => agent.close(),
  };
}

function boundObjectRef(spec: TokenRequestOptions): { boundObjectRef?: Record<string, string> } {
  if (spec.boundPod && spec.boundSecret) throw new Error("TokenRequest: give either boundPod or boundSecret, not both");
  const bound = spec.boundPod ? { kind: "Pod", ...spec.boundPod } : spec.boundSecret ? { kind: "Secret", ...spec.boundSecret } : undefined;
  return bound ? { boundObjectRef: { apiVersion: "v1", kind: bound.kind, name: bound.name, uid: bound.uid } } : {};
}

/** Retry-After is either delta-seconds or an HTTP date (RFC 9110 §10.2.3). */
function retryAfterMs(value: string | undefined): number | undefined {
  if (value === undefined || value.trim() === "") return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

const REASONS: Record<number, string> = {
  400: "BadRequest",
  401: "Unauthorized",
  403: "Forbidden",
  404: "NotFound",
  405: "MethodNotAllowed",
  406: "NotAcceptable",
  409: "Conflict",
  410: "Expired",
  415: "UnsupportedMediaType",
  422: "Invalid",
  429: "TooManyRequests",
  500: "InternalError",
  503: "ServiceUnavailable",
  504: "Timeout",
};

function apiError(
  status: number,
  text: string,
  method: string,
  path: string,
  secrets: (string | undefined)[],
): KubeApiError {
  let parsed: KubeStatus | undefined;
  try {
    const value: unknown = JSON.parse(text);
    if (value && typeof value === "object") parsed = value as KubeStatus;
  } catch {
    // Not a Status object (a proxy's HTML page, a plain-text 401): fall back to the text.
  }
  const reason = parsed?.reason || REASONS[status] || "Unknown";
  const raw = parsed?.message || text.slice(0, 300).trim() || `HTTP ${status}`;
  return new KubeApiError(status, reason, redact(raw, secrets), method, redact(path, secrets), parsed?.details);
}

const TIMEOUT_CODES = new Set(["UND_ERR_CONNECT_TIMEOUT", "UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT"]);

function isTimeout(err: unknown): boolean {
  return err instanceof Error && "code" in err && TIMEOUT_CODES.has(err.code as string);
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    const code = "code" in err ? err.code : undefined;
    const cause = err.cause instanceof Error ? `: ${describe(err.cause)}` : "";
    return `${typeof code === "string" ? `${code} ` : ""}${err.message}${cause}`;
  }
  return String(err);
}
