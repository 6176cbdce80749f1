import type { IncomingMessage, RequestListener, Server } from "node:http";
import { Socket } from "node:net";
import { Duplex } from "node:stream";

/**
 * Vault's `LIST` method on real connections.
 *
 * Node's HTTP parser (llhttp) has a fixed table of methods without LIST, and
 * refuses it before any JavaScript sees the request. Connections that never
 * send LIST (Vault's own clients send `GET ?list=true`) stay on Node's native
 * path from the socket into the parser. When llhttp refuses a LIST, Node
 * reports a `clientError` (HPE_INVALID_METHOD) carrying the bytes of that read
 * and where in them it stopped; from that request on, the connection is handed
 * to a rewriter (takeOverListConnection): once the responses to the requests
 * before it have been written, the socket's bytes, the refused ones first,
 * pass through a JavaScript Duplex to a new parser of the same server, and a
 * request line starting `LIST ` becomes `BIND ` — a method llhttp knows, of
 * the same length, that latchkey serves nothing with — handed on as `GET`,
 * marked as a list.
 *
 * Why this shape:
 * - llhttp refuses a LIST at its `S` (after `LI`, which could still be LINK),
 *   and the error says where in the read that was. The bytes before it in the
 *   same read, or in an earlier read when the method was split across reads,
 *   are taken to be `LI`: a method llhttp refused at that very byte is a LIST
 *   or no method at all (`UNLIST`), and either way nothing before it changes
 *   framing. Anything else llhttp refuses gets the 400 it always got.
 * - Same length: the rewrite never moves a byte, so even a rewriter that lost
 *   track of where requests start could not change how llhttp frames them
 *   (no request smuggling); at worst four bytes of a body would change.
 * - It does not lose track: it follows HTTP/1.1 framing (Content-Length,
 *   chunked bodies, trailers, pipelining, any TCP chunking) for requests
 *   llhttp accepts, and on anything it does not fully understand (Upgrade,
 *   CONNECT, both or repeated length headers, bare LF, over-long heads) it
 *   stops rewriting for the rest of the connection. Those requests then go to
 *   llhttp untouched, and a later LIST there gets the old 400.
 * - A client's own `BIND` stays `BIND`: the rewriter records, in order, which
 *   BIND requests it made, and Node emits requests in the order it parsed them.
 */
const LIST = Buffer.from("LIST ");
const STAND_IN = Buffer.from("BIND ");
const STAND_IN_METHOD = "BIND";
const CONNECT = Buffer.from("CONNECT ");

const CR = 13;
const LF = 10;
/** Longer heads than this are past Node's own header limit (16 KiB), which refuses them anyway. */
const MAX_HEAD_BYTES = 64 * 1024;
const MAX_CHUNK_LINE_BYTES = 4096;

type Framing =
  | { at: "start" }
  | { at: "request-line" }
  | { at: "headers"; length?: number; chunked: boolean; lengthHeaders: number; opaque: boolean }
  | { at: "body"; left: number }
  | { at: "chunk-size" }
  | { at: "chunk-data"; left: number }
  | { at: "chunk-end" }
  | { at: "trailers" }
  | { at: "off" };

/** Follows the requests of one connection and rewrites `LIST ` request lines; see the module comment. */
export class ListMethodRewriter {
  private framing: Framing = { at: "start" };
  /** A request line's first bytes that could still turn out to be `LIST ` or `BIND `. */
  private held: Buffer = Buffer.alloc(0);
  /** The part of a head, chunk-size or trailer line read so far, when a line spans reads. */
  private line: Buffer[] = [];
  private lineBytes = 0;
  private headBytes = 0;
  /** For each BIND request passed on, in order: whether it was a LIST. */
  private readonly standIns: boolean[] = [];

  /** Bytes for the parser from bytes off the socket; may hold back up to four bytes of a request line. */
  feed(chunk: Buffer): Buffer {
    let buf = this.held.length > 0 ? Buffer.concat([this.held, chunk]) : chunk;
    this.held = Buffer.alloc(0);
    let i = 0;
    while (i < buf.length && this.framing.at !== "off") {
      const f = this.framing;
      switch (f.at) {
        case "start": {
          while (i < buf.length && (buf[i] === CR || buf[i] === LF)) i++; // llhttp skips empty lines between requests
          if (i === buf.length) break;
          const seen = Math.min(LIST.length, buf.length - i);
          const isList = buf.compare(LIST, 0, seen, i, i + seen) === 0;
          const isStandIn = buf.compare(STAND_IN, 0, seen, i, i + seen) === 0;
          if ((isList || isStandIn) && seen < LIST.length) {
            this.held = Buffer.from(buf.subarray(i));
            return buf.subarray(0, i);
          }
          if (isList) {
            if (buf === chunk) buf = Buffer.from(chunk); // never write into a buffer the caller still holds
            STAND_IN.copy(buf, i);
          }
          if (isList || isStandIn) this.standIns.push(isList);
          this.headBytes = 0;
          this.framing = { at: "request-line" };
          break;
        }
        case "body":
        case "chunk-data": {
          const take = Math.min(f.left, buf.length - i);
          i += take;
          f.left -= take;
          if (f.left === 0) this.framing = f.at === "body" ? { at: "start" } : { at: "chunk-end" };
          break;
        }
        default: {
          const end = buf.indexOf(LF, i);
          const part = buf.subarray(i, end < 0 ? buf.length : end + 1);
          i += part.length;
          if (!this.withinLimits(part.length)) this.framing = { at: "off" };
          else if (end < 0) this.line.push(part);
          else {
            // Most lines arrive whole: read them where they are.
            const line = this.line.length === 0 ? part : Buffer.concat([...this.line, part]);
            this.line = [];
            this.lineBytes = 0;
            this.lineDone(withoutCrlf(line));
          }
        }
      }
    }
    if (this.framing.at === "off") this.line = [];
    return buf;
  }

  /** What was held back when the connection's reading side ends: the parser decides what it was. */
  flush(): Buffer {
    const rest = this.held;
    this.held = Buffer.alloc(0);
    return rest;
  }

  /** For a BIND request the parser produced: was it a LIST? Called once per BIND request, in order. */
  takeStandIn(): boolean {
    return this.standIns.shift() ?? false;
  }

  /** Counts part of a line; false when the line or head grows past what llhttp would take. */
  private withinLimits(bytes: number): boolean {
    this.lineBytes += bytes;
    if (this.framing.at === "chunk-size" || this.framing.at === "chunk-end") return this.lineBytes <= MAX_CHUNK_LINE_BYTES;
    this.headBytes += bytes;
    return this.headBytes <= MAX_HEAD_BYTES;
  }

  private lineDone(line: Buffer | undefined): void {
    const f = this.framing;
    if (line === undefined) {
      this.framing = { at: "off" };
      return;
    }
    switch (f.at) {
      case "request-line":
        // CONNECT hands the connection over to a tunnel.
        this.framing = line.subarray(0, CONNECT.length).equals(CONNECT)
          ? { at: "off" }
          : { at: "headers", chunked: false, lengthHeaders: 0, opaque: false };
        return;
      case "headers":
        this.framing = line.length === 0 ? bodyFraming(f) : headerLine(f, line);
        return;
      case "chunk-size": {
        const size = /^([0-9A-Fa-f]{1,12})(?:;.*)?$/.exec(line.toString("latin1"));
        if (!size) this.framing = { at: "off" };
        else {
          const left = parseInt(size[1], 16);
          this.framing = left === 0 ? { at: "trailers" } : { at: "chunk-data", left };
        }
        return;
      }
      case "chunk-end":
        this.framing = line.length === 0 ? { at: "chunk-size" } : { at: "off" };
        return;
      case "trailers":
        if (line.length === 0) this.framing = { at: "start" };
        return;
      default:
        this.framing = { at: "off" };
    }
  }
}

/** A line ending in LF without its CRLF; undefined for a bare LF, which llhttp refuses. */
function withoutCrlf(raw: Buffer): Buffer | undefined {
  if (raw.length < 2 || raw[raw.length - 2] !== CR) return undefined;
  return raw.subarray(0, raw.length - 2);
}

type Headers = Extract<Framing, { at: "headers" }>;

/** First bytes of the header names that decide framing: Content-Length, Transfer-Encoding, Upgrade. */
const FRAMING_INITIALS = new Set([..."cCtTuU"].map((c) => c.charCodeAt(0)));
const SP = 32;
const HT = 9;

function headerLine(f: Headers, line: Buffer): Framing {
  // llhttp refuses continuation lines (obs-fold); no need to follow them.
  if (line[0] === SP || line[0] === HT) return { at: "off" };
  if (!FRAMING_INITIALS.has(line[0])) return f;
  const text = line.toString("latin1");
  const colon = text.indexOf(":");
  const name = text.slice(0, colon).toLowerCase();
  const value = text.slice(colon + 1).trim().toLowerCase();
  if (name === "content-length") {
    f.lengthHeaders++;
    f.length = /^\d{1,15}$/.test(value) ? Number(value) : undefined;
    if (f.length === undefined) f.opaque = true;
  } else if (name === "transfer-encoding") {
    f.lengthHeaders++;
    if (value === "chunked") f.chunked = true;
    else f.opaque = true;
  } else if (name === "upgrade") {
    f.opaque = true;
  }
  return f;
}

function bodyFraming(f: Headers): Framing {
  if (f.opaque || f.lengthHeaders > 1) return { at: "off" };
  if (f.chunked) return { at: "chunk-size" };
  return f.length ? { at: "body", left: f.length } : { at: "start" };
}

/** Requests that arrived as LIST; the HTTP layer hands them to the core as the LIST operation. */
const listRequests = new WeakSet<IncomingMessage>();

export const isListRequest = (req: IncomingMessage): boolean => listRequests.has(req);

/**
 * A connection as Node's HTTP server sees it: the socket's bytes after the
 * rewriter, everything else (writes, timeouts, addresses) the socket's own.
 */
export class ListMethodSocket extends Duplex {
  readonly rewriter = new ListMethodRewriter();

  /** `refused`: the bytes llhttp refused on this socket, from the start of the refused request. */
  constructor(
    private readonly socket: Socket,
    refused?: Buffer,
  ) {
    super({ allowHalfOpen: true });
    if (refused) {
      const bytes = this.rewriter.feed(refused);
      if (bytes.length > 0) this.push(bytes);
    }
    socket.on("data", (chunk: Buffer) => {
      const bytes = this.rewriter.feed(chunk);
      if (bytes.length > 0 && !this.push(bytes)) socket.pause();
    });
    socket.on("end", () => {
      const rest = this.rewriter.flush();
      if (rest.length > 0) this.push(rest);
      this.push(null);
    });
    socket.on("timeout", () => this.emit("timeout"));
    socket.on("error", (err) => this.destroy(err));
    socket.on("close", () => this.destroy());
  }

  get remoteAddress() {
    return this.socket.remoteAddress;
  }
  get remotePort() {
    return this.socket.remotePort;
  }
  get remoteFamily() {
    return this.socket.remoteFamily;
  }
  get localAddress() {
    return this.socket.localAddress;
  }
  get localPort() {
    return this.socket.localPort;
  }
  /** TLSSocket sets this; fastify reads it for `request.protocol`. */
  get encrypted(): boolean {
    return (this.socket as Socket & { encrypted?: boolean }).encrypted === true;
  }

  setTimeout(ms: number, onTimeout?: () => void): this {
    this.socket.setTimeout(ms);
    if (onTimeout) this.once("timeout", onTimeout);
    return this;
  }
  setNoDelay(noDelay?: boolean): this {
    this.socket.setNoDelay(noDelay);
    return this;
  }
  setKeepAlive(enable?: boolean, initialDelay?: number): this {
    this.socket.setKeepAlive(enable, initialDelay);
    return this;
  }

  override _read(): void {
    this.socket.resume();
  }
  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (err?: Error | null) => void): void {
    if (this.socket.write(chunk)) done();
    else this.socket.once("drain", () => done());
  }
  override _writev(chunks: { chunk: Buffer }[], done: (err?: Error | null) => void): void {
    this.socket.cork();
    let flushed = true;
    for (const { chunk } of chunks) flushed = this.socket.write(chunk);
    this.socket.uncork();
    if (flushed) done();
    else this.socket.once("drain", () => done());
  }
  override _final(done: (err?: Error | null) => void): void {
    this.socket.end(done);
  }
  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    this.socket.destroy(err ?? undefined);
    done(err);
  }
}

/** Each server's own connection listener: the parser a handed-over connection is given to. */
const connectionListeners = new WeakMap<Server, (connection: Duplex) => void>();
/** Sockets whose requests a ListMethodSocket now reads; their old parser's errors are not the client's. */
const handedOver = new WeakSet<Socket>();

/**
 * Lets `server` hand connections that send LIST to the rewriter. Node's HTTP
 * server takes connections through one listener on `connection` (plain) or
 * `secureConnection` (TLS), which accepts any Duplex, as Node documents for
 * injected connections; a handed-over connection is given to that listener.
 */
export function acceptListMethod(server: Server, event: "connection" | "secureConnection"): void {
  const listeners = server.listeners(event);
  if (listeners.length !== 1) {
    throw new Error(`expected Node's HTTP server to have one "${event}" listener, found ${listeners.length}`);
  }
  const parse = listeners[0] as (this: Server, socket: Duplex) => void;
  connectionListeners.set(server, (connection) => parse.call(server, connection));
}

/** The names of the listeners Node's HTTP server puts on a connection for its parser (Node 20). */
const NODE_PARSER_LISTENERS = { data: "bound socketOnData", end: "bound socketOnEnd", timeout: "socketOnTimeout" } as const;
const NODE_DRAIN_LISTENER = "bound socketOnDrain";

type ParseError = Error & { code?: string; rawPacket?: Buffer; bytesParsed?: number };
type ServedSocket = Socket & {
  server?: Server;
  parser?: { remove?(): void };
  _httpMessage?: { once(event: string, listener: () => void): unknown; off(event: string, listener: () => void): unknown } | null;
};

/**
 * For a `clientError`: when llhttp refused a LIST on `socket`, hands the
 * connection to the rewriter from that request on, and returns true (the
 * caller answers nothing). Also true for later errors of the parser that was
 * left behind. False for any other error, which the caller answers.
 */
export function takeOverListConnection(err: ParseError, socket: Duplex): boolean {
  if (!(socket instanceof Socket)) return false;
  if (handedOver.has(socket)) return true;
  if (err.code !== "HPE_INVALID_METHOD") return false;
  const served = socket as ServedSocket;
  const parse = served.server && connectionListeners.get(served.server);
  const refused = refusedList(err);
  const nodeListeners = Object.entries(NODE_PARSER_LISTENERS).map(
    ([event, name]) => [event, socket.listeners(event).find((fn) => fn.name === name)] as const,
  );
  const drain = socket.listeners("drain").find((fn) => fn.name === NODE_DRAIN_LISTENER);
  // On a Node whose HTTP server is not laid out as expected, LIST gets the 400 it would get without latchkey.
  if (!parse || !refused || !drain || nodeListeners.some(([, fn]) => !fn)) return false;
  handedOver.add(socket);
  // The old parser reads no more: its reads, its end of input and its idle timeout go.
  for (const [event, fn] of nodeListeners) socket.removeListener(event, fn as (...args: unknown[]) => void);
  // Adding its `data` listener takes the socket off the native parser (Node's own unconsume).
  const connection = new ListMethodSocket(socket, refused);
  afterResponses(served, () => {
    socket.removeListener("drain", drain as (...args: unknown[]) => void);
    // Until now the server could still close the connection through its old parser (closeAllConnections).
    served.parser?.remove?.();
    if (socket.destroyed || !socket.writable) {
      connection.destroy();
      return;
    }
    socket.setTimeout(0); // the old connection's keep-alive timeout; the new one sets its own
    parse(connection);
  });
  return true;
}

/**
 * The refused request's bytes, from its method on, when llhttp refused a
 * LIST; undefined otherwise. llhttp stops at the `S` of `LIST `; the `LI`
 * before it may lie in an earlier read, which the error does not carry.
 */
function refusedList({ rawPacket: raw, bytesParsed: at }: ParseError): Buffer | undefined {
  if (!raw || at === undefined || at < 0 || at >= raw.length || raw[at] !== LIST[2]) return undefined;
  const seen = Math.min(at, 2);
  if (raw.compare(LIST, 2 - seen, 2, at - seen, at) !== 0) return undefined;
  // What this read holds of `ST ` must be `ST `; the rewriter decides the rest when it comes.
  const after = Math.min(raw.length - at, 3);
  if (raw.compare(LIST, 2, 2 + after, at, at + after) !== 0) return undefined;
  return Buffer.concat([LIST.subarray(0, 2 - seen), raw.subarray(at - seen)]);
}

/** Runs `then` once every response to a request parsed before the refused one has been written. */
function afterResponses(socket: ServedSocket, then: () => void): void {
  const response = socket._httpMessage;
  if (!response) {
    process.nextTick(then);
    return;
  }
  // Node attaches the next queued response to the socket as the current one finishes.
  const next = () => {
    response.off("finish", next);
    response.off("close", next);
    afterResponses(socket, then);
  };
  response.once("finish", next);
  response.once("close", next);
}

/** The request handler, with the BIND requests that were LISTs turned back into lists. */
export function withListRequests(handler: RequestListener): RequestListener {
  return (req, res) => {
    if (req.method === STAND_IN_METHOD && req.socket instanceof ListMethodSocket && req.socket.rewriter.takeStandIn()) {
      req.method = "GET";
      listRequests.add(req);
    }
    handler(req, res);
  };
}
