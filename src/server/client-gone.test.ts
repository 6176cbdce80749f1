import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { clientGoneSignal } from "./client-gone.js";

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
  const req = request({ host: "127.0.0.1", port, path: "/" });
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
