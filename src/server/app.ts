import fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import type { ApiRequest, Core } from "../core/core.js";
import { badRequest, LatchkeyError } from "../core/errors.js";
import { depthMessage, exceedsDepth, jsonChildren } from "../core/json-depth.js";
import type { Logger } from "../core/types.js";
import type { ListenerConfig } from "./config.js";
import { clientGoneSignal } from "./client-gone.js";
import { isListRequest } from "./list-method.js";
import { answerClientError, createListenerServer, errorBody } from "./listener.js";
import { createInflightGate, createRateLimiter } from "./quotas.js";

export interface AppOptions {
  core: Core;
  logger: Logger;
  /** Request body limit in bytes; larger bodies get 413. */
  maxRequestSize: number;
  /** Requests in progress beyond this many get 503; 0 or absent is no cap. */
  maxInflightRequests?: number;
  /** Timeouts, connection cap and JSON depth of the listener. */
  listener: Omit<ListenerConfig, "address" | "tlsCertFile" | "tlsKeyFile">;
  https?: { cert: Buffer; key: Buffer };
}

/**
 * The HTTP layer: parses requests into the core's ApiRequest and renders its
 * ApiResponse. It knows nothing of mounts, tokens or policies.
 */
export async function buildApp(opts: AppOptions): Promise<FastifyInstance> {
  const app = fastify({
    bodyLimit: opts.maxRequestSize,
    logger: false,
    // Fastify's own 503 while closing has its own body shape; the hook below answers in Vault's.
    return503OnClosing: false,
    serverFactory: (handler) => createListenerServer(opts.listener, handler, opts.https),
    clientErrorHandler: answerClientError,
    // Fastify answers a malformed percent-encoding in the URL itself, in its own body
    // shape, before any route or the error handler runs, unless this is set.
    frameworkErrors: (err: FastifyError, _req, reply) => sendFrameworkError(err, reply),
  });

  let closing = false;
  app.addHook("preClose", async () => {
    closing = true;
  });
  app.addHook("onRequest", (_req, reply, done) => {
    if (closing) sendJson(reply.header("connection", "close"), 503, errorBody("latchkey is shutting down"));
    else done();
  });

  // Vault clients send JSON with or without a content type, and often an empty body.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", { parseAs: "string" }, (_req, body, done) => {
    const text = typeof body === "string" ? body : body.toString("utf8");
    if (text.trim() === "") return done(null, {});
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (err) {
      return done(badRequest(`malformed JSON in request body: ${(err as Error).message}`), undefined);
    }
    // JSON.parse itself does not recurse, but the storage view and KV merge-patch
    // do: refuse deep documents here, once for every route (Vault's max_json_depth).
    if (exceedsDepth(doc, opts.listener.maxJsonDepth, jsonChildren)) {
      return done(badRequest(`request body ${depthMessage(opts.listener.maxJsonDepth)}`), undefined);
    }
    done(null, doc);
  });

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, req, reply) => {
    if (err.code === "FST_ERR_CTP_BODY_TOO_LARGE") {
      return sendJson(reply, 413, errorBody(`request body too large: the limit is ${opts.maxRequestSize} bytes`));
    }
    const given = err instanceof LatchkeyError ? err.status : err.statusCode;
    const status = given && given >= 400 && given < 500 ? given : 500;
    if (status === 500) opts.logger.error({ err, url: req.url.split("?")[0] }, "unhandled error");
    return sendJson(reply, status, errorBody(status === 500 ? "internal error" : err.message));
  });

  app.setNotFoundHandler((req, reply) => {
    sendJson(reply, 404, errorBody(`no handler for ${req.method} ${req.url.split("?")[0]}: the API lives under /v1/`));
  });

  const limiter = createRateLimiter(opts.core.quotas);
  const inflight = createInflightGate(opts.maxInflightRequests ?? 0);

  app.route({
    method: ["GET", "POST", "PUT", "PATCH", "DELETE"],
    url: "/v1/*",
    handler: async (req, reply) => {
      const params = req.params as { "*": string };
      const body = req.body;
      if (body !== undefined && (typeof body !== "object" || body === null || Array.isArray(body))) {
        return sendJson(reply, 400, errorBody("request body must be a JSON object"));
      }
      const path = params["*"];
      const checked = limiter.check(path, req.ip);
      const verdict = checked instanceof Promise ? await checked : checked;
      if (verdict.headers) reply.headers(verdict.headers);
      if (!verdict.allowed) {
        // Vault's answer to a rate-limit quota: 429, its message, and when to come back.
        reply.header("retry-after", String(verdict.retryAfterSeconds));
        return sendJson(reply, 429, errorBody(`request path "${path}": rate limit quota exceeded`));
      }
      if (!inflight.tryEnter()) {
        reply.header("retry-after", "1");
        return sendJson(reply, 503, errorBody(`latchkey is at its limit of ${opts.maxInflightRequests} requests in progress: retry shortly`));
      }
      try {
        return await handleApi(path, req, reply, body);
      } finally {
        inflight.leave();
      }
    },
  });

  async function handleApi(path: string, req: FastifyRequest, reply: FastifyReply, body: unknown) {
    const res = await opts.core.handle(new HttpApiRequest(req, path, body, clientGoneSignal(reply.raw)));
    reply.header("cache-control", "no-store");
    if (res.raw) {
      const { contentType, body: raw } = res.raw;
      return reply.code(res.status).type(contentType).send(typeof raw === "string" ? Buffer.from(raw) : raw);
    }
    if (res.body === undefined) return reply.code(res.status).send();
    return sendJson(reply, res.status, res.body);
  }
  return app;
}

/**
 * The core's view of one HTTP request. The client-gone signal is made when
 * first read, through a getter on this class rather than on each request: an
 * object literal with a getter gets a hidden class of its own, allocated in
 * V8's old generation, and from there it kept every request's objects alive
 * through young-generation collections (2 KB promoted a request, a fifth of the
 * server's time in GC; bench/RESULTS.md).
 */
class HttpApiRequest implements ApiRequest {
  readonly method: string;
  readonly query: Record<string, string>;
  readonly body: Record<string, unknown>;
  readonly token: string | undefined;
  readonly wrapTtl: string | undefined;
  readonly remoteAddress: string;

  constructor(
    req: FastifyRequest,
    readonly path: string,
    body: unknown,
    private readonly takeSignal: () => AbortSignal,
  ) {
    // A LIST arrives as GET (list-method.ts) and goes on as the LIST it was.
    this.method = isListRequest(req.raw) ? "LIST" : req.method;
    this.query = flattenQuery(req.query);
    this.body = (body as Record<string, unknown> | undefined) ?? {};
    this.token = tokenFrom(req.headers);
    this.wrapTtl = headerValue(req.headers["x-vault-wrap-ttl"]);
    this.remoteAddress = req.ip;
  }

  get signal(): AbortSignal {
    return this.takeSignal();
  }
}

function sendFrameworkError(err: FastifyError, reply: FastifyReply) {
  const message = err.code === "FST_ERR_BAD_URL" ? "invalid request path: malformed percent-encoding" : err.message;
  return sendJson(reply, err.statusCode ?? 400, errorBody(message));
}

/**
 * Vault answers JSON as exactly `application/json`, and some clients
 * (@litehex/node-vault) refuse anything else. Fastify appends `; charset=utf-8`
 * to a JSON type sent as a string or an object, but keeps the type of a Buffer:
 * every body goes out as one, raw ones included.
 */
function sendJson(reply: FastifyReply, status: number, body: unknown) {
  return reply.code(status).type("application/json").send(Buffer.from(JSON.stringify(body)));
}

/** `X-Vault-Token` or `Authorization: Bearer`, as Vault accepts both. */
function tokenFrom(headers: Record<string, string | string[] | undefined>): string | undefined {
  const vault = headers["x-vault-token"];
  if (typeof vault === "string" && vault !== "") return vault;
  const authz = headers.authorization;
  if (typeof authz === "string" && /^bearer\s+/i.test(authz)) return authz.replace(/^bearer\s+/i, "").trim() || undefined;
  return undefined;
}

function flattenQuery(query: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (typeof query !== "object" || query === null) return out;
  for (const [k, v] of Object.entries(query)) {
    if (typeof v === "string") out[k] = v;
    else if (Array.isArray(v) && typeof v[0] === "string") out[k] = v[0];
  }
  return out;
}

/** A header's value as one string (the first, when it was sent twice). */
function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
