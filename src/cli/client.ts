import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
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
    if ("code" in e && typeof e.code === "string") return e.code;
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
  } else if (code === TIMEOUT_CODE) {
    hint = "The server did not answer in time.";
  }
  return new ConnectionError(address, `could not connect to latchkey at ${address}: ${detail}`, hint, { cause: err });
}

/** The code of the error a request fails with when the server does not answer within the client's timeout. */
const TIMEOUT_CODE = "LK_ERR_CLIENT_TIMEOUT";

interface Answer {
  status: number;
  text: string;
}

/**
 * One request with node:http(s): the CLI and the in-pod agent need no more,
 * and loading an HTTP client library would cost the agent's idle memory.
 * `timeoutMs` bounds the whole exchange, from connecting to the last byte.
 */
export function sendHttp(
  url: string,
  init: { method: string; headers: Record<string, string>; body?: string; agent?: HttpAgent; ca?: string; timeoutMs: number; signal?: AbortSignal },
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const send = target.protocol === "https:" ? httpsRequest : httpRequest;
    const headers = init.body === undefined ? init.headers : { ...init.headers, "content-length": String(Buffer.byteLength(init.body)) };
    const req = send(target, { method: init.method, headers, agent: init.agent, ...(init.ca ? { ca: init.ca } : {}), signal: init.signal });
    const timer = setTimeout(() => {
      req.destroy(Object.assign(new Error(`no answer within ${init.timeoutMs} ms`), { code: TIMEOUT_CODE }));
    }, init.timeoutMs);
    req.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.once("response", (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.once("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
      res.once("end", () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") });
      });
    });
    req.end(init.body);
  });
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
  const https = /^https:/i.test(address);
  const agent = https ? new HttpsAgent({ keepAlive: true, ...(options.caCert ? { ca: options.caCert } : {}) }) : new HttpAgent({ keepAlive: true });

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

    let response: Answer;
    try {
      response = await sendHttp(url, {
        method: req.method,
        headers,
        body: req.body === undefined ? undefined : JSON.stringify(req.body),
        agent,
        timeoutMs: timeout,
        signal: req.signal,
      });
    } catch (err) {
      throw connectionError(address, err);
    }
    const { text: raw, status } = response;
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
    close: async () => agent.destroy(),
  };
}
