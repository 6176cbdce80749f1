import { upstreamError, type LatchkeyError } from "../core/errors.js";

/** The `Status` object the API server returns with every failure (meta/v1 Status). */
export interface KubeStatus {
  kind?: string;
  apiVersion?: string;
  status?: string;
  message?: string;
  reason?: string;
  code?: number;
  details?: {
    name?: string;
    group?: string;
    kind?: string;
    uid?: string;
    causes?: { reason?: string; message?: string; field?: string }[];
    retryAfterSeconds?: number;
  };
}

/**
 * The API server answered with a non-2xx status. `status` is the HTTP status,
 * `reason` the Status object's machine-readable reason (`Forbidden`, `NotFound`,
 * `AlreadyExists`, `Invalid`, `TooManyRequests`, ...). The message never carries
 * a credential: tokens and anything shaped like a JWT are redacted from it.
 */
export class KubeApiError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
    readonly method: string,
    readonly path: string,
    readonly details?: KubeStatus["details"],
  ) {
    super(message);
    this.name = "KubeApiError";
  }
}

/** The API server could not be reached or did not answer in time. */
export class KubeUnavailableError extends Error {
  constructor(
    readonly kind: "network" | "timeout",
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "KubeUnavailableError";
  }
}

export const isNotFound = (err: unknown): boolean => err instanceof KubeApiError && err.status === 404;

export const isAlreadyExists = (err: unknown): boolean => err instanceof KubeApiError && err.status === 409;

/**
 * Maps a Kubernetes failure to latchkey's upstream error (504 timeout, 503
 * unreachable, 502 any other answer). Callers first handle the statuses that
 * mean something in their domain (a 404 namespace, a 403 for the reviewer).
 */
export function toUpstreamError(err: KubeApiError | KubeUnavailableError): LatchkeyError {
  if (err instanceof KubeUnavailableError) {
    return upstreamError(err.kind === "timeout" ? 504 : 503, `kubernetes api unavailable: ${err.message}`, err);
  }
  return upstreamError(502, `kubernetes api error: ${err.status} ${err.reason}`, err);
}

const JWT_SHAPE = /eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*/g;
const BEARER = /(bearer\s+)\S+/gi;

/** Removes `secrets` and anything that looks like a bearer token or JWT from `text`. */
export function redact(text: string, secrets: readonly (string | undefined)[] = []): string {
  let out = text;
  for (const secret of secrets) {
    if (secret && secret.length >= 8) out = out.split(secret).join("[redacted]");
  }
  return out.replace(JWT_SHAPE, "[redacted]").replace(BEARER, "$1[redacted]");
}
