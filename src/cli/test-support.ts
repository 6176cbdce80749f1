/**
 * Test helpers for the CLI (used by the *.test.ts files beside it): a small HTTP
 * server that records requests and answers with canned API responses, and a
 * runner that executes the CLI in-process with captured output.
 */
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterEach, beforeEach } from "vitest";
import type { CommandGroup } from "./command.js";
import { runCli } from "./program.js";

export interface RecordedRequest {
  method: string;
  /** Path without `/v1/` and without query, e.g. `sys/mounts/secret`. */
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  /** Parsed JSON body, or undefined when there was none. */
  body: unknown;
}

export interface Reply {
  status?: number;
  body?: unknown;
}

export interface FakeServer {
  address: string;
  requests: RecordedRequest[];
  /** Answers `METHOD path` (path without `/v1/`, query ignored); unanswered requests get 404. */
  on(method: string, path: string, reply: Reply | ((req: RecordedRequest) => Reply)): void;
  close(): Promise<void>;
}

export async function startFakeServer(): Promise<FakeServer> {
  const routes = new Map<string, Reply | ((req: RecordedRequest) => Reply)>();
  const requests: RecordedRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://fake");
      const text = Buffer.concat(chunks).toString("utf8");
      const recorded: RecordedRequest = {
        method: req.method ?? "GET",
        path: decodeURIComponent(url.pathname.replace(/^\/v1\//, "")),
        query: url.searchParams,
        headers: req.headers,
        body: text === "" ? undefined : JSON.parse(text),
      };
      requests.push(recorded);
      const route = routes.get(`${recorded.method} ${recorded.path}`);
      const reply = typeof route === "function" ? route(recorded) : (route ?? { status: 404, body: { errors: [] } });
      const status = reply.status ?? 200;
      if (reply.body === undefined) {
        res.writeHead(status === 200 ? 204 : status).end();
        return;
      }
      const payload = typeof reply.body === "string" ? reply.body : JSON.stringify(reply.body);
      res.writeHead(status, { "content-type": "application/json" }).end(payload);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    address: `http://127.0.0.1:${port}`,
    requests,
    on: (method, path, reply) => routes.set(`${method} ${path}`, reply),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}

export interface CapturedStream {
  text: string;
  isTTY: boolean;
  write(chunk: string): boolean;
}

export function captureStream(isTTY = false): CapturedStream {
  return {
    text: "",
    isTTY,
    write(chunk) {
      this.text += chunk;
      return true;
    },
  };
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: Record<string, string | undefined>;
  stdin?: string;
  groups?: readonly CommandGroup[];
}

/** Runs `latchkey <argv>` in-process. */
export async function runLatchkey(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const stdout = captureStream();
  const stderr = captureStream();
  const stdin = Readable.from(options.stdin === undefined ? [] : [options.stdin]);
  const code = await runCli(argv, { stdout, stderr, stdin, env: options.env ?? {} }, options.groups);
  return { code, stdout: stdout.text, stderr: stderr.text };
}

/** A temporary HOME for token-file tests. */
export async function temporaryHome(): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), "latchkey-cli-"));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

export interface FakeLatchkey {
  server: FakeServer;
  /** A temporary HOME (for the token file). */
  home: string;
  /** LATCHKEY_ADDR pointing at the fake server, HOME, and LATCHKEY_TOKEN when one was given. */
  env: Record<string, string>;
}

/** Starts a fake server and a temporary HOME before each test of the calling suite and removes them after. */
export function useFakeLatchkey(options: { token?: string } = {}): FakeLatchkey {
  let current: (FakeLatchkey & { removeHome(): Promise<void> }) | undefined;
  const active = () => {
    if (!current) throw new Error("useFakeLatchkey state is only available inside a test");
    return current;
  };
  beforeEach(async () => {
    const server = await startFakeServer();
    const home = await temporaryHome();
    const env: Record<string, string> = { LATCHKEY_ADDR: server.address, HOME: home.path };
    if (options.token !== undefined) env.LATCHKEY_TOKEN = options.token;
    current = { server, home: home.path, env, removeHome: home.remove };
  });
  afterEach(async () => {
    const done = active();
    current = undefined;
    await done.server.close();
    await done.removeHome();
  });
  return {
    get server() {
      return active().server;
    },
    get home() {
      return active().home;
    },
    get env() {
      return active().env;
    },
  };
}
