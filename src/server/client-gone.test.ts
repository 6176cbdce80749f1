import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { recordingLogger } from "../auth/kubernetes/test-harness.js";
import type { ApiRequest, ApiResponse, Core } from "../core/core.js";
import { buildApp } from "./app.js";
import { clientGoneSignal } from "./client-gone.js";
import { parseConfig } from "./config.js";

let server: Server | undefined;
afterEach(async () => {
  await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
  server = undefined;
});

/** A server whose handler gets the request's signal getter; resolves with the port. */
async function serve(handler: (req: IncomingMessage, res: ServerResponse, signal: () => AbortSignal) => void) {
  server = createServer((req, res) => handler(req, res, clientGoneSignal(res)));
  await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
  return (server.address() as AddressInfo).port;
}

/** Sends a GET and destroys the connection as soon as the server has the request. */
function getAndHangUp(port: number, arrived: Promise<void>) {
  const req = request({ host: "127.0.0.1", port, path: "/v1/secret/data/app" });
  req.on("error", () => undefined);
  req.end();
  void arrived.then(() => req.destroy());
}

const until = (check: () => boolean) =>
  new Promise<void>((resolve) => {
    const poll = setInterval(() => {
      if (check()) {
        clearInterval(poll);
        resolve();
      }
    }, 5);
  });

describe("clientGoneSignal", () => {
  it("aborts a signal taken before the client went away", async () => {
    let signal: AbortSignal | undefined;
    let arrived!: () => void;
    const port = await serve((_req, _res, take) => {
      signal = take();
      arrived();
    });
    getAndHangUp(port, new Promise((resolve) => (arrived = resolve)));
    await until(() => signal?.aborted === true);
    expect(signal?.aborted).toBe(true);
  });

  it("hands out an aborted signal when the client was gone before it was taken", async () => {
    let res: ServerResponse | undefined;
    let arrived!: () => void;
    const port = await serve((_req, r) => {
      res = r;
      arrived();
    });
    getAndHangUp(port, new Promise((resolve) => (arrived = resolve)));
    await until(() => res?.destroyed === true);
    expect(clientGoneSignal(res!)().aborted).toBe(true);
  });

  it("leaves the signal alone when the response finished, and hands out the same one each time", async () => {
    let signal: AbortSignal | undefined;
    let same = false;
    let closed = false;
    const port = await serve((_req, res, take) => {
      signal = take();
      same = take() === signal;
      res.on("close", () => (closed = true));
      res.end("ok");
    });
    const status = await new Promise<number | undefined>((resolve, reject) => {
      request({ host: "127.0.0.1", port, path: "/", agent: false }, (r) => {
        r.resume();
        r.on("end", () => resolve(r.statusCode));
      })
        .on("error", reject)
        .end();
    });
    expect(status).toBe(200);
    await until(() => closed);
    expect(same).toBe(true);
    expect(signal?.aborted).toBe(false);
  });
});

describe("the core's request from the HTTP layer", () => {
  /** latchkey's app in front of a core that hands each request to `handle`. */
  async function appWith(handle: (req: ApiRequest) => Promise<ApiResponse>) {
    const cfg = parseConfig({ storage: { sqlite: { path: "/unused" } } });
    const core = { quotas: { current: () => undefined }, handle } as unknown as Core;
    const app = await buildApp({ core, logger: recordingLogger(), maxRequestSize: 1024, listener: cfg.listener });
    await app.listen({ host: "127.0.0.1", port: 0 });
    return { app, port: (app.server.address() as AddressInfo).port };
  }

  it("carries the client-gone signal, aborted once the client hung up", async () => {
    let arrived!: () => void;
    let handed: ApiRequest | undefined;
    const { app, port } = await appWith(async (req) => {
      handed = req;
      arrived();
      await until(() => req.signal?.aborted === true);
      return { status: 204 };
    });
    try {
      getAndHangUp(port, new Promise((resolve) => (arrived = resolve)));
      await until(() => handed?.signal?.aborted === true);
      expect(handed).toMatchObject({ method: "GET", path: "secret/data/app", query: {}, body: {}, remoteAddress: "127.0.0.1" });
    } finally {
      await app.close();
    }
  });

  it("hands on the method, path, query and token, and a signal left alone once the response finished", async () => {
    const seen: ApiRequest[] = [];
    const { app, port } = await appWith(async (req) => {
      seen.push(req);
      return { status: 200, body: { errors: [] } };
    });
    try {
      const status = await new Promise<number | undefined>((resolve, reject) => {
        request({ host: "127.0.0.1", port, path: "/v1/sys/health?x=1", headers: { "x-vault-token": "t" }, agent: false }, (r) => {
          r.resume();
          r.on("end", () => resolve(r.statusCode));
        })
          .on("error", reject)
          .end();
      });
      expect(status).toBe(200);
      expect(seen[0]).toMatchObject({ method: "GET", path: "sys/health", query: { x: "1" }, token: "t" });
      expect(seen[0]?.signal?.aborted).toBe(false);
    } finally {
      await app.close();
    }
  });
});
