import { connect, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { DEFAULT_CONFIG, type ListenerConfig } from "../../src/server/config.js";
import { devServer, ROOT_TOKEN, type DevServer } from "../helpers/server.js";
import { bodyOf, responses } from "../helpers/sockets.js";

// Real sockets: the limits under test live in Node's HTTP server, which
// in-process injection bypasses.

let s: DevServer | undefined;
afterEach(async () => {
  await s?.close();
  s = undefined;
});

async function listening(limits: Partial<ListenerConfig>): Promise<number> {
  s = await devServer({ listener: { ...DEFAULT_CONFIG.listener, ...limits } });
  await s.app.listen({ host: "127.0.0.1", port: 0 });
  const address = s.app.server.address();
  if (typeof address !== "object" || address === null) throw new Error("server has no port");
  return address.port;
}

interface Exchange {
  socket: Socket;
  /** Everything the server sent, once it closed the connection (or `giveUpMs` passed). */
  closed: Promise<{ data: string; elapsedMs: number; closedByServer: boolean }>;
}

/** Opens a connection, hands it to `talk` once connected, and records what comes back. */
function exchange(port: number, talk: (socket: Socket) => void, giveUpMs = 6000): Exchange {
  const started = Date.now();
  const socket = connect(port, "127.0.0.1", () => talk(socket));
  const closed = new Promise<{ data: string; elapsedMs: number; closedByServer: boolean }>((resolve) => {
    let data = "";
    let closedByServer = true;
    const giveUp = setTimeout(() => {
      closedByServer = false;
      socket.destroy();
    }, giveUpMs);
    socket.on("data", (chunk) => (data += chunk.toString()));
    socket.on("error", () => undefined);
    socket.on("close", () => {
      clearTimeout(giveUp);
      resolve({ data, elapsedMs: Date.now() - started, closedByServer });
    });
  });
  return { socket, closed };
}

/** Writes `chunk` every `everyMs` until the connection closes: the slow client of the review. */
function trickle(socket: Socket, chunk: string, everyMs: number): void {
  const timer = setInterval(() => {
    if (socket.writable) socket.write(chunk);
  }, everyMs);
  socket.once("close", () => clearInterval(timer));
}

const get = (path: string) => `GET ${path} HTTP/1.1\r\nHost: latchkey\r\nX-Vault-Token: ${ROOT_TOKEN}\r\n\r\n`;

describe("listener timeouts", () => {
  it("cuts off a request body trickled a byte at a time with 408 within http_read_timeout", async () => {
    const port = await listening({ readHeaderTimeoutMs: 500, readTimeoutMs: 1000 });
    const { closed } = exchange(port, (socket) => {
      socket.write(
        `POST /v1/secret/data/slow HTTP/1.1\r\nHost: latchkey\r\nX-Vault-Token: ${ROOT_TOKEN}\r\n` +
          `Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{`,
      );
      trickle(socket, " ", 100);
    });
    const { data, elapsedMs, closedByServer } = await closed;
    expect(closedByServer).toBe(true);
    expect(elapsedMs).toBeGreaterThanOrEqual(900);
    expect(elapsedMs).toBeLessThan(3000);
    expect(data).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    expect(bodyOf(data)).toEqual({
      errors: ["request timeout: the request was not received within the listener's read timeout"],
    });
  });

  it("cuts off headers trickled a line at a time within http_read_header_timeout", async () => {
    const port = await listening({ readHeaderTimeoutMs: 500, readTimeoutMs: 5000 });
    const { closed } = exchange(port, (socket) => {
      socket.write("GET /v1/sys/health HTTP/1.1\r\n");
      trickle(socket, "X-Padding: x\r\n", 100);
    });
    const { data, elapsedMs, closedByServer } = await closed;
    expect(closedByServer).toBe(true);
    expect(elapsedMs).toBeLessThan(2000);
    expect(data).toMatch(/^HTTP\/1\.1 408 /);
  });

  it("closes a connection that never sends a request within http_read_header_timeout", async () => {
    const port = await listening({ readHeaderTimeoutMs: 500, readTimeoutMs: 1000 });
    const { closed } = exchange(port, () => undefined);
    const { elapsedMs, closedByServer } = await closed;
    expect(closedByServer).toBe(true);
    expect(elapsedMs).toBeLessThan(2000);
  });

  it("closes an idle keep-alive connection after http_idle_timeout", async () => {
    const port = await listening({ idleTimeoutMs: 1000 });
    const { closed } = exchange(port, (socket) => socket.write(get("/v1/sys/health")));
    const { data, elapsedMs, closedByServer } = await closed;
    expect(closedByServer).toBe(true);
    expect(data).toMatch(/^HTTP\/1\.1 200 /);
    expect(data).toMatch(/keep-alive: timeout=1\r\n/i);
    // Node keeps the socket a second past the advertised timeout, so that the client closes first.
    expect(elapsedMs).toBeLessThan(3500);
  });

  it("gives each request on a kept-alive connection its own read timeout", async () => {
    const port = await listening({ readHeaderTimeoutMs: 1000, readTimeoutMs: 1000 });
    const { socket, closed } = exchange(port, (sock) => {
      sock.write(get("/v1/sys/health"));
    });
    const [first] = await responses(socket, 1);
    expect(first).toMatch(/^HTTP\/1\.1 200 /);
    // Later than the read timeout counted from the connection's start.
    await new Promise((resolve) => setTimeout(resolve, 1300));
    socket.write(get("/v1/sys/health"));
    const [second] = await responses(socket, 1);
    expect(second).toMatch(/^HTTP\/1\.1 200 /);
    socket.destroy();
    await closed;
  });
});

describe("listener connection cap", () => {
  it("refuses connections above max_connections and accepts again once one closes", async () => {
    const port = await listening({ maxConnections: 2 });
    const held = [0, 1].map(() => exchange(port, (socket) => socket.write(get("/v1/sys/health"))));
    // Each held connection has had an answer, so the server has accepted both.
    for (const { socket } of held) expect((await responses(socket, 1))[0]).toMatch(/^HTTP\/1\.1 200 /);

    const refused = await exchange(port, (socket) => socket.write(get("/v1/sys/health"))).closed;
    expect(refused.closedByServer).toBe(true);
    expect(refused.data).toBe("");

    held[0].socket.destroy();
    await held[0].closed;
    await expect.poll(() => new Promise((resolve) => s?.app.server.getConnections((_err, n) => resolve(n)))).toBe(1);
    const again = exchange(port, (socket) => socket.write(get("/v1/sys/health")));
    expect((await responses(again.socket, 1))[0]).toMatch(/^HTTP\/1\.1 200 /);
    again.socket.destroy();
    held[1].socket.destroy();
  });
});

describe("errors from below the router keep Vault's envelope", () => {
  it.each([
    ["a method Node's parser does not know", "FETCH /v1/secret/metadata HTTP/1.1\r\nHost: latchkey\r\n\r\n", 400,
      "unsupported HTTP method"],
    ["headers over Node's limit", `GET /v1/sys/health HTTP/1.1\r\nHost: latchkey\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`, 431,
      "request headers too large"],
    ["a malformed Content-Length", "POST /v1/secret/data/x HTTP/1.1\r\nHost: latchkey\r\nContent-Length: ten\r\n\r\n", 400,
      "malformed HTTP request"],
  ])("%s", async (_what, request, status, message) => {
    const port = await listening({});
    const { data } = await exchange(port, (socket) => socket.write(request)).closed;
    expect(data).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
    expect(data).toMatch(/\r\ncontent-type: application\/json\r\n/i);
    expect(bodyOf(data)).toEqual({ errors: [message] });
  });

  it("answers a request that arrives while shutting down with 503", async () => {
    const port = await listening({});
    const body = '{"data":{"a":"b"}}';
    // Shut down only once the server has the first request's head (a loaded machine can take longer than any fixed wait).
    const arrived = new Promise((resolve) => s!.app.server.once("request", resolve));
    const { socket, closed } = exchange(port, (sock) => {
      sock.write(
        `POST /v1/secret/data/last HTTP/1.1\r\nHost: latchkey\r\nX-Vault-Token: ${ROOT_TOKEN}\r\n` +
          `Content-Length: ${body.length}\r\n\r\n${body.slice(0, 8)}`,
      );
    });
    await arrived;
    const server = s;
    s = undefined;
    const closing = server?.close();
    await new Promise((resolve) => setTimeout(resolve, 100));
    // The request in flight finishes; the one pipelined behind it is turned away.
    socket.write(body.slice(8) + get("/v1/sys/health"));
    const [inFlight, late] = await responses(socket, 2);
    expect(inFlight).toMatch(/^HTTP\/1\.1 200 /);
    expect(late).toMatch(/^HTTP\/1\.1 503 /);
    expect(bodyOf(late)).toEqual({ errors: ["latchkey is shutting down"] });
    await closed;
    await closing;
  });
});
