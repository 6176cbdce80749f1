import { Agent, request } from "undici";
import { isRecord } from "./output.js";

/** A decoded JSON response: the envelope (`data`, `auth`, `lease_id`, ...) or a top-level sys object. */
export type ApiBody = Record<string, unknown>;
export type HttpMethod = "GET" | "PUT" | "POST" | "DELETE";
export type Query = Record<string, string | readonly string[]>;

export interface ApiRequest {
  method: HttpMethod;
  /** Path under `/v1/`, e.g. `sys/mounts/secret`. */
  path: string;
  query?: Query;
  body?: unknown;
  /** Use this token instead of the configured one (login checks a candidate before saving it). */
  token?: string;
  /** A 404 means "nothing there" (reads and lists) and resolves to undefined instead of throwing. */
  emptyOn404?: boolean;
  signal?: AbortSignal;
}

/** The server answered with an error status; `errors` are its messages. */
export class ApiError extends Error {
  constructor(
    readonly method: HttpMethod,
    /** Without query string: query values can be sensitive. */
    readonly url: string,
    readonly status: number,
    readonly errors: readonly string[],
    readonly raw: string,
  ) {
    super(errors.length > 0 ? errors.join("; ") : `HTTP ${status}`);
    this.name = "ApiError";
  }
}

/** The server could not be reached (refused, DNS, TLS, timeout). */
export class ConnectionError extends Error {
  constructor(
    readonly address: string,
    message: string,
    readonly hint: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "ConnectionError";
  }
}

export interface ClientOptions {
  address: string;
  token?: string;
  /** PEM text of the CA(s) to trust for https. */
  caCert?: string;
  timeoutMs?: number;
}

export interface LatchkeyClient {
  readonly address: string;
  request(req: ApiRequest): Promise<ApiBody | undefined>;
  /** GET; undefined when nothing is there (404). */
  read(path: string, query?: Query): Promise<ApiBody | undefined>;
  /** LIST (as `GET ?list=true`); undefined when nothing is there. */
  list(path: string): Promise<ApiBody | undefined>;
  /** PUT; undefined on 204. */
  write(path: string, body?: unknown): Promise<ApiBody | undefined>;
  delete(path: string, query?: Query): Promise<ApiBody | undefined>;
  close(): Promise<void>;
}

const TLS_CODES = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_HAS_EXPIRED",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

function errorCode(err: unknown): string | undefined {
  for (let e = err, depth = 0; depth < 4 && typeof e === "object" && e !== null; depth++) {
    if ("code" in e && typeof e.code === "string" && e.code !== "UND_ERR_SOCKET") return e.code;
    e = "cause" in e ? e.cause : undefined;
  }
  return undefined;
}

function innermostMessage(err: unknown): string {
  let message = err instanceof Error ? err.message : String(err);
  for (let e = err, depth = 0; depth < 4 && e instanceof Error; depth++) {
    if (e.message) message = e.message;
    e = e.cause;
  }
  return message;
}

function connectionError(address: string, err: unknown): ConnectionError {
  const code = errorCode(err);
  const detail = innermostMessage(err);
  let hint = `Is a latchkey server running there? Set LATCHKEY_ADDR or -address to the server's address.`;
  if (code !== undefined && code.includes("WRONG_VERSION_NUMBER")) {
    hint = "The server does not answer https at this address: check http:// versus https:// in the address.";
  } else if (code !== undefined && (TLS_CODES.has(code) || code.startsWith("ERR_TLS") || code.startsWith("ERR_SSL"))) {
    hint = "Set LATCHKEY_CACERT (or -ca-cert) to the PEM file of the CA that issued the server's certificate.";
  } else if (code === "UND_ERR_HEADERS_TIMEOUT" || code === "UND_ERR_BODY_TIMEOUT") {
    hint = "The server did not answer in time.";
  }
  return new ConnectionError(address, `could not connect to latchkey at ${address}: ${detail}`, hint, { cause: err });
}

/** Each path segment is escaped on its own so that `/` keeps separating segments. */
export function encodeApiPath(path: string): string {
  return path
    .replace(/^\/+/, "")
    .split("/")
    .map((segment) => encodeURIComponent(segment))
    .join("/");
}

function parseErrors(raw: string): string[] {
  try {
    const parsed: unknown = JSON.parse(raw);
    if (typeof parsed === "object" && parsed !== null && "errors" in parsed && Array.isArray(parsed.errors)) {
      return parsed.errors.map((e) => String(e));
    }
  } catch {
    // not JSON: the raw text is shown instead
  }
  return [];
}

/** The one HTTP client of the CLI: token header, CA trust, error decoding. */
export function createClient(options: ClientOptions): LatchkeyClient {
  const address = options.address.replace(/\/+$/, "");
  const timeout = options.timeoutMs ?? 60_000;
  const dispatcher = new Agent({
    connect: options.caCert ? { ca: options.caCert } : {},
    headersTimeout: timeout,
    bodyTimeout: timeout,
  });

  async function send(req: ApiRequest): Promise<ApiBody | undefined> {
    const token = req.token ?? options.token;
    const redact = (text: string) => (token ? text.split(token).join("<redacted>") : text);
    const base = `${address}/v1/${encodeApiPath(req.path)}`;
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(req.query ?? {})) {
      for (const item of typeof value === "string" ? [value] : value) search.append(key, item);
    }
    const queryString = search.toString();
    const url = queryString ? `${base}?${queryString}` : base;
    const headers: Record<string, string> = {};
    if (token) headers["x-vault-token"] = token;
    if (req.body !== undefined) headers["content-type"] = "application/json";

    let response;
    try {
      response = await request(url, {
        method: req.method,
        headers,
        body: req.body === undefined ? undefined : JSON.stringify(req.body),
        dispatcher,
        signal: req.signal,
      });
    } catch (err) {
      throw connectionError(address, err);
    }
    const raw = await response.body.text();
    const status = response.statusCode;
    // Vault answers "nothing stored here" with 404 and an empty error list; a 404
    // that carries messages (no such mount, unsupported path) is a real error.
    if (status === 404 && req.emptyOn404 && parseErrors(raw).length === 0) return undefined;
    if (status >= 400) {
      throw new ApiError(req.method, base, status, parseErrors(raw).map(redact), redact(raw.slice(0, 2000)));
    }
    if (raw.trim() === "") return undefined;
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch (err) {
      throw new Error(`the server at ${address} answered ${req.method} ${base} with a body that is not JSON`, { cause: err });
    }
    if (!isRecord(parsed)) {
      throw new Error(`the server at ${address} answered ${req.method} ${base} with a body that is not a JSON object`);
    }
    return parsed;
  }

  return {
    address,
    request: send,
    read: (path, query) => send({ method: "GET", path, query, emptyOn404: true }),
    list: (path) => send({ method: "GET", path, query: { list: "true" }, emptyOn404: true }),
    write: (path, body) => send({ method: "PUT", path, body: body ?? {} }),
    delete: (path, query) => send({ method: "DELETE", path, query }),
    close: () => dispatcher.close(),
  };
}
