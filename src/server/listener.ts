import { createServer as createHttpServer, type RequestListener, type Server, type ServerOptions } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { Duplex } from "node:stream";
import type { ListenerConfig } from "./config.js";
import { acceptListMethod, takeOverListConnection, withListRequests } from "./list-method.js";

/** Vault's error envelope; every response latchkey sends, from any layer, has this shape. */
export const errorBody = (message: string) => ({ errors: [message] });

type Limits = Pick<ListenerConfig, "readHeaderTimeoutMs" | "readTimeoutMs" | "idleTimeoutMs" | "maxConnections">;

/**
 * The Node server behind fastify, with the listener's limits applied. Fastify
 * leaves Node's `requestTimeout` at 0 (never), so without this a body trickled
 * a byte at a time holds its connection for as long as the client likes.
 */
export function createListenerServer(
  limits: Limits,
  handler: RequestListener,
  tls?: { cert: Buffer; key: Buffer },
): Server {
  const options: ServerOptions = {
    headersTimeout: limits.readHeaderTimeoutMs,
    requestTimeout: limits.readTimeoutMs,
    keepAliveTimeout: limits.idleTimeoutMs,
    // Node checks the two timeouts only this often (30 s by default), which
    // would let a slow request live up to twice its limit.
    connectionsCheckingInterval: checkingInterval(limits),
  };
  const server = tls
    ? createHttpsServer({ ...options, ...tls, handshakeTimeout: limits.readHeaderTimeoutMs }, withListRequests(handler))
    : createHttpServer(options, withListRequests(handler));
  // Vault's LIST method, which Node's HTTP parser refuses: answerClientError
  // hands such a connection to the rewriter in list-method.ts.
  acceptListMethod(server, tls ? "secureConnection" : "connection");
  // Node closes connections accepted beyond this at once, before reading a byte.
  server.maxConnections = limits.maxConnections;
  return server;
}

function checkingInterval(limits: Limits): number {
  return Math.max(10, Math.min(1000, Math.floor(Math.min(limits.readHeaderTimeoutMs, limits.readTimeoutMs) / 4)));
}

/**
 * Answers what Node's HTTP parser refused before fastify saw a request (a
 * timeout, oversized headers, a method it does not know) in Vault's envelope,
 * then closes the connection, as Node itself would; a refused LIST instead
 * goes on to the rewriter.
 */
export function answerClientError(err: Error & { code?: string }, socket: Duplex): void {
  if (takeOverListConnection(err, socket)) return;
  if (err.code === "ECONNRESET" || socket.destroyed) return;
  const [status, reason, message] = clientErrorResponse(err.code);
  // Like Node: write only if no response on this connection has started, or the
  // client would read our bytes as part of it.
  const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (socket.writable && !inFlight?.headersSent) {
    const body = JSON.stringify(errorBody(message));
    socket.write(
      `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  }
  socket.destroy(err);
}

function clientErrorResponse(code: string | undefined): [number, string, string] {
  switch (code) {
    case "ERR_HTTP_REQUEST_TIMEOUT":
      return [408, "Request Timeout", "request timeout: the request was not received within the listener's read timeout"];
    case "HPE_HEADER_OVERFLOW":
      return [431, "Request Header Fields Too Large", "request headers too large"];
    case "HPE_INVALID_METHOD":
      return [400, "Bad Request", "unsupported HTTP method"];
    default:
      return [400, "Bad Request", "malformed HTTP request"];
  }
}
