import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import { createConnection, createServer, type Server, type Socket } from "node:net";

/**
 * A TCP proxy on loopback standing for the network path to an upstream (the
 * kube-apiserver, PostgreSQL). It passes bytes through untouched (TLS is
 * end to end) until the test cuts it: then every open connection is reset and
 * every new one is reset on arrival, as when the upstream is unreachable.
 * `throttle` instead answers each new connection itself, over TLS with the
 * upstream's own key pair, with HTTP 429 and a Retry-After, as a kube-apiserver
 * under max-in-flight or priority-and-fairness limits does.
 */
export interface TcpProxy {
  port: number;
  /** `upstream` with its port replaced by the proxy's. */
  url: string;
  /** Connections accepted since the proxy started, whatever the mode. */
  connections(): number;
  /** Requests answered 429 while throttling. */
  throttled(): number;
  cut(): void;
  throttle(tls: { key: string; cert: string }, retryAfterSeconds: number): void;
  restore(): void;
  close(): Promise<void>;
}

type Mode = { kind: "pass" } | { kind: "cut" } | { kind: "throttle"; server: HttpsServer; sockets: Set<Socket> };

/** Starts a proxy to `upstream` (a URL: scheme and host are kept, only the port changes). */
export async function startTcpProxy(upstream: string): Promise<TcpProxy> {
  const target = new URL(upstream);
  const targetPort = Number(target.port || (target.protocol === "https:" ? 443 : 80));
  const open = new Set<Socket>();
  let mode: Mode = { kind: "pass" };
  let accepted = 0;
  let throttled = 0;
  const track = (socket: Socket) => {
    open.add(socket);
    socket.on("close", () => open.delete(socket));
    socket.on("error", () => undefined);
  };
  const server: Server = createServer((client) => {
    accepted++;
    track(client);
    if (mode.kind === "cut") {
      client.resetAndDestroy();
      return;
    }
    if (mode.kind === "throttle") {
      mode.sockets.add(client);
      mode.server.emit("connection", client);
      return;
    }
    const upstreamSocket = createConnection(targetPort, target.hostname);
    track(upstreamSocket);
    upstreamSocket.on("close", () => client.destroy());
    client.on("close", () => upstreamSocket.destroy());
    client.pipe(upstreamSocket).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  const viaProxy = new URL(upstream);
  viaProxy.port = String(port);
  const dropAll = () => {
    for (const socket of open) socket.resetAndDestroy();
  };
  const stopThrottle = () => {
    // Its keep-alive connections would go on answering 429: the client reconnects instead.
    if (mode.kind === "throttle") {
      mode.server.close();
      for (const socket of mode.sockets) socket.destroy();
    }
  };
  return {
    port,
    url: target.pathname === "/" && !upstream.endsWith("/") ? viaProxy.origin : viaProxy.toString(),
    connections: () => accepted,
    throttled: () => throttled,
    cut() {
      stopThrottle();
      mode = { kind: "cut" };
      dropAll();
    },
    throttle(tls, retryAfterSeconds) {
      stopThrottle();
      const https = createHttpsServer(tls, (req, res) => {
        throttled++;
        req.resume();
        const status = { kind: "Status", apiVersion: "v1", status: "Failure", reason: "TooManyRequests", code: 429, message: "Too many requests, please try again later." };
        res.writeHead(429, { "content-type": "application/json", "retry-after": String(retryAfterSeconds) });
        res.end(JSON.stringify(status));
      });
      mode = { kind: "throttle", server: https, sockets: new Set() };
      dropAll();
    },
    restore() {
      stopThrottle();
      mode = { kind: "pass" };
    },
    async close() {
      stopThrottle();
      const closed = new Promise((resolve) => server.close(resolve));
      dropAll();
      await closed;
    },
  };
}
