import { execFile, execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { connect, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as connectTls } from "node:tls";
import { promisify } from "node:util";
import vault from "node-vault";
import { pino } from "pino";
import { Agent, request } from "undici";
import { afterEach, describe, expect, it } from "vitest";
import { DEFAULT_CONFIG, type ServerConfig } from "../../src/server/config.js";
import { buildServer } from "../../src/server/main.js";
import { devServer, ROOT_TOKEN, type DevServer } from "../helpers/server.js";
import { bodyOf, responses, which } from "../helpers/sockets.js";

// The LIST method lives below fastify, in Node's HTTP parser: those tests use
// real sockets. The rest injects, as the other HTTP suites do.

let s: DevServer | undefined;
const others: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await s?.close();
  s = undefined;
  for (const server of others.splice(0)) await server.close();
});

/** A dev server listening on loopback; returns its address and a count of the connections it accepted. */
async function listening(overrides: Partial<ServerConfig> = {}): Promise<{ base: string; connections: () => number }> {
  s = await devServer(overrides);
  let accepted = 0;
  const tls = Boolean(overrides.listener?.tlsCertFile);
  s.app.server.on(tls ? "secureConnection" : "connection", () => accepted++);
  await s.app.listen({ host: "127.0.0.1", port: 0 });
  const address = s.app.server.address();
  if (typeof address !== "object" || address === null) throw new Error("server has no port");
  return { base: `${tls ? "https" : "http"}://127.0.0.1:${address.port}`, connections: () => accepted };
}

/** A KV v2 mount with two secrets, so that a list has something to say. */
async function withSecrets(server: DevServer) {
  for (const name of ["app", "db"]) {
    expect((await server.request("POST", `secret/data/${name}`, { body: { data: { v: name } } })).status).toBe(200);
  }
}

/** A response without the parts that differ between any two requests. */
const comparable = (status: number, body: string) => {
  // Tests read arbitrary fields of Vault-shaped JSON.
  const json = JSON.parse(body) as Record<string, any>;
  delete json.request_id;
  return { status, json };
};

const statusOf = (response: string) => Number(/^HTTP\/1\.1 (\d{3}) /.exec(response)?.[1]);

/** A raw connection to `base`; over TLS when `ca` (the server's certificate) is given. */
const openSocket = (base: string, ca?: Buffer) =>
  new Promise<Socket>((resolve) => {
    const port = Number(new URL(base).port);
    const socket = ca
      ? connectTls({ port, host: "127.0.0.1", ca }, () => resolve(socket))
      : connect(port, "127.0.0.1", () => resolve(socket));
    socket.setNoDelay(true);
  });

/** A self-signed certificate for 127.0.0.1, and a listener config serving it. */
function tlsListener() {
  const dir = mkdtempSync(join(tmpdir(), "latchkey-list-tls-"));
  const cert = join(dir, "cert.pem");
  const key = join(dir, "key.pem");
  execFileSync(which("openssl"), [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert,
  ], { stdio: "ignore" });
  return { ca: readFileSync(cert), listener: { ...DEFAULT_CONFIG.listener, tlsCertFile: cert, tlsKeyFile: key } };
}

const tokenHeader = `X-Vault-Token: ${ROOT_TOKEN}\r\n`;
const rawRequest = (method: string, path: string, body?: string) =>
  `${method} /v1/${path} HTTP/1.1\r\nHost: latchkey\r\n${tokenHeader}` +
  (body === undefined ? "\r\n" : `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);

describe("the LIST method on real connections", () => {
  it("answers LIST exactly as GET ?list=true, and the next request on the keep-alive connection succeeds", async () => {
    const { base, connections } = await listening();
    await withSecrets(s!);
    const agent = new Agent({ connections: 1 });
    const send = async (method: string, path: string, token: string | null = ROOT_TOKEN) => {
      const res = await request(`${base}/v1/${path}`, {
        method,
        headers: token ? { "x-vault-token": token } : {},
        dispatcher: agent,
      });
      return { ...comparable(res.statusCode, await res.body.text()), type: res.headers["content-type"] };
    };
    try {
      const listed = await send("LIST", "secret/metadata/");
      expect(listed).toEqual({ status: 200, json: expect.objectContaining({ data: { keys: ["app", "db"] } }), type: "application/json" });
      expect(await send("GET", "secret/metadata/?list=true")).toEqual(listed);
      // The same for an error, a path without a list operation and a missing token.
      for (const path of ["nosuchmount/", "sys/health", "sys/policies/acl"]) {
        expect(await send("LIST", path)).toEqual(await send("GET", `${path}?list=true`));
      }
      const anonymous = await send("LIST", "secret/metadata/", null);
      expect(anonymous.status).toBe(403);
      expect(anonymous).toEqual(await send("GET", "secret/metadata/?list=true", null));
      expect((await send("GET", "secret/data/app")).json.data.data).toEqual({ v: "app" });
      expect(connections()).toBe(1);
    } finally {
      await agent.close();
    }
  });

  it("answers pipelined requests around LISTs in order, bodies that mention LIST included", async () => {
    const { base, connections } = await listening();
    await withSecrets(s!);
    const note = JSON.stringify({ data: { note: "LIST /v1/secret/metadata/ HTTP/1.1" } });
    const stream =
      rawRequest("GET", "sys/health") +
      rawRequest("LIST", "secret/metadata/") +
      rawRequest("POST", "secret/data/pipelined", note) +
      rawRequest("LIST", "sys/policies/acl") +
      rawRequest("GET", "sys/seal-status");
    // Once in one write, once in three-byte writes: the requests may split anywhere.
    for (const step of [stream.length, 3]) {
      const socket = await openSocket(base);
      const answers = responses(socket, 5);
      for (let at = 0; at < stream.length; at += step) {
        socket.write(stream.slice(at, at + step));
        if (step < stream.length) await new Promise((resolve) => setImmediate(resolve));
      }
      // Node runs pipelined requests side by side and answers them in order.
      const [health, list, write, policies, status] = await answers;
      expect([health, list, write, policies, status].map(statusOf)).toEqual([200, 200, 200, 200, 200]);
      expect(bodyOf(health)).toMatchObject({ initialized: true });
      expect(bodyOf(list).data.keys).toEqual(expect.arrayContaining(["app", "db"]));
      expect(bodyOf(write).data).toMatchObject({ version: step === 3 ? 2 : 1 });
      expect(bodyOf(policies).data.keys).toEqual(expect.arrayContaining(["default", "root"]));
      expect(bodyOf(status)).toMatchObject({ sealed: false });
      socket.destroy();
    }
    expect(connections()).toBe(2);
    expect((await s!.request("GET", "secret/data/pipelined")).json.data.data).toEqual({ note: "LIST /v1/secret/metadata/ HTTP/1.1" });
  });

  it("leaves a client's own BIND method as it was: no such operation, and the connection lives on", async () => {
    const { base } = await listening();
    const socket = await openSocket(base);
    const answers = responses(socket, 2);
    socket.write(rawRequest("BIND", "secret/metadata/") + rawRequest("GET", "sys/health"));
    const [bind, health] = await answers;
    expect(statusOf(bind)).toBe(404);
    expect(bodyOf(bind)).toEqual({ errors: ["no handler for BIND /v1/secret/metadata/: the API lives under /v1/"] });
    expect(statusOf(health)).toBe(200);
    socket.destroy();
  });

  it("lists with node-vault, whose list() sends LIST, and reads on after it over the same connection", async () => {
    const { base, connections } = await listening();
    await withSecrets(s!);
    const client = vault({ apiVersion: "v1", endpoint: base, token: ROOT_TOKEN });
    expect((await client.list("secret/metadata/")).data.keys).toEqual(["app", "db"]);
    expect((await client.read("secret/data/db")).data.data).toEqual({ v: "db" });
    expect((await client.list("secret/metadata/")).data.keys).toEqual(["app", "db"]);
    expect(connections()).toBe(1);
  });

  const curl = which("curl");

  it.skipIf(!curl)("answers curl -X LIST and curl's next request reuses the connection", async () => {
    const { base, connections } = await listening();
    await withSecrets(s!);
    const token = ["-H", `X-Vault-Token: ${ROOT_TOKEN}`];
    const report = ["-w", "\n%{http_code} %{content_type} %{num_connects}\n"];
    const { stdout } = await promisify(execFile)(curl, [
      "-s", "-X", "LIST", ...token, ...report, `${base}/v1/secret/metadata/`,
      "--next", "-s", ...token, ...report, `${base}/v1/secret/data/app`,
    ]);
    const [listBody, listReport, readBody, readReport] = stdout.trim().split("\n");
    expect(JSON.parse(listBody).data.keys).toEqual(["app", "db"]);
    expect(listReport).toBe("200 application/json 1");
    expect(JSON.parse(readBody).data.data).toEqual({ v: "app" });
    // No new connection for the second request.
    expect(readReport).toBe("200 application/json 0");
    expect(connections()).toBe(1);
  });

  const openssl = which("openssl");

  it.skipIf(!openssl)("answers LIST over TLS and keeps the connection", async () => {
    const { ca, listener } = tlsListener();
    const { base, connections } = await listening({ listener });
    await withSecrets(s!);
    const agent = new Agent({ connections: 1, connect: { ca } });
    try {
      const list = await request(`${base}/v1/secret/metadata/`, { method: "LIST", headers: { "x-vault-token": ROOT_TOKEN }, dispatcher: agent });
      expect(list.statusCode).toBe(200);
      expect(((await list.body.json()) as Record<string, any>).data.keys).toEqual(["app", "db"]);
      const read = await request(`${base}/v1/secret/data/app`, { headers: { "x-vault-token": ROOT_TOKEN }, dispatcher: agent });
      expect(read.statusCode).toBe(200);
      await read.body.dump();
      expect(connections()).toBe(1);
    } finally {
      await agent.close();
    }
  });
});

describe("connections go to the LIST rewriter only from their first LIST on", () => {
  const openssl = which("openssl");
  const listeners = [["http", false], ["https", true]] as const;

  /** A listener (TLS or not) with two secrets; `sockets()` are the server's sockets of each request, in order. */
  async function serving(tls: boolean) {
    const { ca, listener } = tls ? tlsListener() : { ca: undefined, listener: undefined };
    const { base, connections } = await listening(listener ? { listener } : {});
    await withSecrets(s!);
    const seen: { socket: unknown; native: boolean }[] = [];
    s!.app.server.on("request", (req: { socket: unknown }) => seen.push({ socket: req.socket, native: native(req.socket) }));
    return { open: () => openSocket(base, ca), connections, requests: () => seen };
  }

  /** Node's parser reads the socket natively: a net.Socket it consumes, no JavaScript stream in between. */
  const native = (socket: unknown) =>
    socket instanceof Socket && (socket as Socket & { parser?: { _consumed?: boolean } }).parser?._consumed === true;

  /** Writes `parts` one by one, each once the server has had time to read the one before on its own. */
  async function writeApart(socket: Socket, parts: string[]) {
    for (const [k, part] of parts.entries()) {
      if (k > 0) await new Promise((resolve) => setTimeout(resolve, 40));
      socket.write(part);
    }
  }

  it.skipIf(!openssl).each(listeners)("leaves a connection that sends no LIST on Node's native path (%s)", async (_name, tls) => {
    const { open, requests } = await serving(tls);
    const socket = await open();
    const answers = responses(socket, 3);
    await writeApart(socket, [rawRequest("GET", "sys/health"), rawRequest("GET", "secret/data/app") + rawRequest("GET", "secret/metadata/?list=true")]);
    const [health, read, list] = await answers;
    expect([health, read, list].map(statusOf)).toEqual([200, 200, 200]);
    expect(bodyOf(list).data.keys).toEqual(["app", "db"]);
    expect(requests().map((r) => r.native)).toEqual([true, true, true]);
    expect(new Set(requests().map((r) => r.socket)).size).toBe(1);
    socket.destroy();
  });

  it.skipIf(!openssl).each(listeners)("hands over at a LIST that comes after other requests, pipelined or not (%s)", async (_name, tls) => {
    const { open, requests, connections } = await serving(tls);
    const socket = await open();
    const answers = responses(socket, 6);
    await writeApart(socket, [
      rawRequest("GET", "secret/data/app"),
      rawRequest("GET", "secret/data/db") + rawRequest("LIST", "secret/metadata/") + rawRequest("GET", "sys/health"),
      rawRequest("LIST", "sys/policies/acl"),
      rawRequest("GET", "secret/data/app"),
    ]);
    const all = await answers;
    expect(all.map(statusOf)).toEqual([200, 200, 200, 200, 200, 200]);
    expect([bodyOf(all[0]).data.data, bodyOf(all[1]).data.data]).toEqual([{ v: "app" }, { v: "db" }]);
    expect(bodyOf(all[2]).data.keys).toEqual(["app", "db"]);
    expect(bodyOf(all[3])).toMatchObject({ initialized: true });
    expect(bodyOf(all[4]).data.keys).toEqual(expect.arrayContaining(["default", "root"]));
    expect(bodyOf(all[5]).data.data).toEqual({ v: "app" });
    // Native up to the LIST, the rewriter's from there on, one TCP connection throughout.
    expect(requests().map((r) => r.native)).toEqual([true, true, false, false, false, false]);
    expect(connections()).toBe(1);
    socket.destroy();
  });

  it.skipIf(!openssl).each(listeners)("serves a LIST whose bytes are split across reads anywhere in its method (%s)", async (_name, tls) => {
    const { open } = await serving(tls);
    const list = rawRequest("LIST", "secret/metadata/");
    for (const cut of [1, 2, 3, 4, 5]) {
      for (const before of ["", rawRequest("GET", "sys/health")]) {
        const socket = await open();
        const answers = responses(socket, before ? 3 : 2);
        await writeApart(socket, [before + list.slice(0, cut), list.slice(cut), rawRequest("GET", "secret/data/db")]);
        const all = await answers;
        const [listed, read] = all.slice(-2);
        expect(all.map(statusOf), `cut after ${cut} bytes${before ? " of a second request" : ""}`).toEqual(all.map(() => 200));
        expect(bodyOf(listed).data.keys).toEqual(["app", "db"]);
        expect(bodyOf(read).data.data).toEqual({ v: "db" });
        socket.destroy();
      }
    }
  });

  it.skipIf(!openssl).each(listeners)("serves a LIST with a body, and the request after it (%s)", async (_name, tls) => {
    const { open } = await serving(tls);
    const socket = await open();
    const answers = responses(socket, 3);
    const body = JSON.stringify({ note: "LIST /v1/sys/health HTTP/1.1\r\n" });
    socket.write(rawRequest("GET", "sys/health") + rawRequest("LIST", "secret/metadata/", body) + rawRequest("GET", "secret/data/app"));
    const [health, listed, read] = await answers;
    expect([health, listed, read].map(statusOf)).toEqual([200, 200, 200]);
    expect(bodyOf(listed).data.keys).toEqual(["app", "db"]);
    expect(bodyOf(read).data.data).toEqual({ v: "app" });
    socket.destroy();
  });

  it("closes a handed-over connection once it has been idle for the listener's idle timeout", async () => {
    const { base } = await listening({ listener: { ...DEFAULT_CONFIG.listener, idleTimeoutMs: 300 } });
    await withSecrets(s!);
    const socket = await openSocket(base);
    const closed = new Promise((resolve) => socket.on("close", resolve));
    const answers = responses(socket, 2);
    socket.write(rawRequest("GET", "sys/health") + rawRequest("LIST", "secret/metadata/"));
    const [, listed] = await answers;
    expect(bodyOf(listed).data.keys).toEqual(["app", "db"]);
    const idleSince = Date.now();
    await closed;
    // Not before the idle timeout; the test's own timeout bounds the other side.
    expect(Date.now() - idleSince).toBeGreaterThanOrEqual(250);
  });

  it.skipIf(!openssl).each(listeners)("still refuses other methods llhttp does not know, before and after a hand-over (%s)", async (_name, tls) => {
    const { open } = await serving(tls);
    for (const [before, method] of [["", "FOO"], ["", "LISTEN"], ["", "LIS\tX"], [rawRequest("LIST", "secret/metadata/"), "FOO"], [rawRequest("LIST", "secret/metadata/"), "LISTEN"]]) {
      const socket = await open();
      const closed = new Promise((resolve) => socket.on("close", resolve));
      if (before) {
        const listed = responses(socket, 1);
        socket.write(before);
        expect(bodyOf((await listed)[0]).data.keys).toEqual(["app", "db"]);
      }
      const answer = responses(socket, 1);
      socket.write(rawRequest(method, "secret/metadata/") + rawRequest("GET", "sys/health"));
      const [refused] = await answer;
      expect(statusOf(refused), method).toBe(400);
      expect(bodyOf(refused)).toEqual({ errors: ["unsupported HTTP method"] });
      await closed;
    }
  });
});

describe("?list= takes what Go's strconv.ParseBool takes", () => {
  it.each(["1", "t", "T", "TRUE", "true", "True"])("lists with list=%s", async (value) => {
    s = await devServer();
    await withSecrets(s);
    const res = await s.request("GET", `secret/metadata/?list=${value}`);
    expect(res.status).toBe(200);
    expect(res.json.data.keys).toEqual(["app", "db"]);
  });

  it.each(["0", "f", "F", "FALSE", "false", "False", ""])("reads with list=%j, as without the parameter", async (value) => {
    s = await devServer();
    await withSecrets(s);
    const plain = await s.request("GET", "secret/metadata/app");
    const res = await s.request("GET", `secret/metadata/app?list=${value}`);
    expect(res.status).toBe(200);
    expect(res.json.data).toEqual(plain.json.data);
  });

  it.each(["yes", "on", "tRUE", "2"])("refuses list=%s with 400 naming the parameter", async (value) => {
    s = await devServer();
    const res = await s.request("GET", `secret/metadata/?list=${value}`);
    expect(res.status).toBe(400);
    expect(res.json).toEqual({
      errors: ['query parameter "list" must be a boolean: 1, t, T, TRUE, true, True, 0, f, F, FALSE, false or False'],
    });
  });
});

describe("JSON responses are exactly application/json", () => {
  it.each([
    ["the envelope", "GET", "/v1/auth/token/lookup-self", undefined, 200],
    ["an error from the core", "GET", "/v1/secret/data/missing", undefined, 404],
    ["a denied request", "GET", "/v1/secret/data/x", { token: "lks.nope" }, 403],
    ["sys/health", "GET", "/v1/sys/health", undefined, 200],
    ["sys/seal-status", "GET", "/v1/sys/seal-status", undefined, 200],
    ["sys/init", "GET", "/v1/sys/init", undefined, 200],
    ["HEAD of sys/health", "HEAD", "/v1/sys/health", undefined, 200],
    ["a path outside /v1", "GET", "/other", undefined, 404],
    ["a malformed percent-encoding", "GET", "/v1/secret/data/%zz", undefined, 400],
    ["a bad ?list=", "GET", "/v1/secret/metadata/?list=maybe", undefined, 400],
    ["malformed JSON", "POST", "/v1/secret/data/x", { payload: "{not json" }, 400],
    ["a body that is no object", "POST", "/v1/secret/data/x", { payload: "[1]" }, 400],
    ["a body over the size limit", "POST", "/v1/secret/data/x", { payload: JSON.stringify({ data: { a: "x".repeat(2048) } }) }, 413],
  ] as const)("for %s", async (_what, method, url, opts, status) => {
    s = await devServer({ maxRequestSize: 1024 });
    const token = opts && "token" in opts ? opts.token : ROOT_TOKEN;
    const payload = opts && "payload" in opts ? opts.payload : undefined;
    const res = await s.app.inject({
      method,
      url,
      headers: { "x-vault-token": token, ...(payload ? { "content-type": "application/json" } : {}) },
      payload,
    });
    expect(res.statusCode).toBe(status);
    expect(res.headers["content-type"]).toBe("application/json");
  });
});

/** A server that is not in dev mode: uninitialised, with the given seal. */
async function freshServer(overrides: Partial<ServerConfig> = {}) {
  const server = await buildServer(
    { ...structuredClone(DEFAULT_CONFIG), storage: { type: "memory" }, ...overrides },
    { logger: pino({ level: "silent" }) },
  );
  others.push(server);
  const call = async (method: "GET" | "HEAD" | "PUT", path: string, body?: unknown, token?: string) => {
    const res = await server.app.inject({
      method,
      url: `/v1/${path}`,
      headers: token ? { "x-vault-token": token } : {},
      ...(body === undefined ? {} : { payload: body as Record<string, unknown> }),
    });
    return { status: res.statusCode, body: res.body, json: res.body ? (JSON.parse(res.body) as Record<string, any>) : {} };
  };
  return { server, call };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe("sys/health for load balancers", () => {
  it("answers HEAD with the status code and no body", async () => {
    s = await devServer();
    const up = await s.app.inject({ method: "HEAD", url: "/v1/sys/health" });
    expect(up.statusCode).toBe(200);
    expect(up.body).toBe("");
    await s.request("PUT", "sys/seal");
    const down = await s.app.inject({ method: "HEAD", url: "/v1/sys/health" });
    expect(down.statusCode).toBe(503);
    expect(down.body).toBe("");
    expect((await s.app.inject({ method: "HEAD", url: "/v1/sys/health?sealedcode=299" })).statusCode).toBe(299);
  });

  it("takes the status code of each state from the query", async () => {
    const { call } = await freshServer();
    expect((await call("GET", "sys/health")).status).toBe(501);
    expect((await call("GET", "sys/health?uninitcode=200")).status).toBe(200);
    const init = await call("PUT", "sys/init", { secret_shares: 1, secret_threshold: 1 });
    expect((await call("GET", "sys/health")).status).toBe(503);
    const sealedOk = await call("GET", "sys/health?sealedcode=200");
    expect(sealedOk.status).toBe(200);
    expect(sealedOk.json).toMatchObject({ initialized: true, sealed: true });
    await call("PUT", "sys/unseal", { key: init.json.keys_base64[0] });
    expect((await call("GET", "sys/health")).status).toBe(200);
    expect((await call("GET", "sys/health?activecode=218")).status).toBe(218);
    // No standbys here: the standby parameters are checked and change nothing.
    const standby = await call("GET", "sys/health?standbyok=true&perfstandbyok=T&standbycode=200&drsecondarycode=500&performancestandbycode=500");
    expect(standby.status).toBe(200);
  });

  it.each([
    ["activecode=abc", 'query parameter "activecode" must be an HTTP status code from 200 to 599'],
    ["sealedcode=99", 'query parameter "sealedcode" must be an HTTP status code from 200 to 599'],
    ["uninitcode=600", 'query parameter "uninitcode" must be an HTTP status code from 200 to 599'],
    ["standbycode=", 'query parameter "standbycode" must be an HTTP status code from 200 to 599'],
    ["drsecondarycode=4.5e2", 'query parameter "drsecondarycode" must be an HTTP status code from 200 to 599'],
    ["performancestandbycode=-1", 'query parameter "performancestandbycode" must be an HTTP status code from 200 to 599'],
    ["standbyok=maybe", 'query parameter "standbyok" must be a boolean: 1, t, T, TRUE, true, True, 0, f, F, FALSE, false or False'],
    ["perfstandbyok=yes", 'query parameter "perfstandbyok" must be a boolean: 1, t, T, TRUE, true, True, 0, f, F, FALSE, false or False'],
  ])("refuses %s with 400", async (query, message) => {
    s = await devServer();
    const res = await s.request("GET", `sys/health?${query}`, { token: null });
    expect(res.status).toBe(400);
    expect(res.json).toEqual({ errors: [message] });
  });

  it("names the cluster and gives it an id that health, seal-status and unseal agree on, sealed or not", async () => {
    s = await devServer();
    const health = (await s.request("GET", "sys/health", { token: null })).json;
    expect(health).toMatchObject({ cluster_name: "latchkey", cluster_id: expect.stringMatching(UUID), enterprise: false });
    const status = (await s.request("GET", "sys/seal-status", { token: null })).json;
    expect(Object.keys(status)).toEqual([
      "type", "initialized", "sealed", "t", "n", "progress", "nonce", "version",
      "build_date", "migration", "cluster_name", "cluster_id", "recovery_seal", "storage_type",
    ]);
    expect(status.build_date).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(status).toMatchObject({ cluster_name: "latchkey", cluster_id: health.cluster_id });
    await s.request("PUT", "sys/seal");
    expect((await s.request("GET", "sys/seal-status", { token: null })).json).toMatchObject({ sealed: true, cluster_id: health.cluster_id });
    const unseal = await s.request("PUT", "sys/unseal", { token: null, body: { key: s.dev!.unsealKey } });
    expect(Object.keys(unseal.json)).toEqual(Object.keys(status));
    expect(unseal.json).toMatchObject({ sealed: false, cluster_id: health.cluster_id });
  });

  it("keeps the cluster id of a store across restarts; a server restarted sealed knows it once unsealed", async () => {
    const dir = mkdtempSync(join(tmpdir(), "latchkey-cluster-id-"));
    const cfg: Partial<ServerConfig> = { storage: { type: "sqlite", path: join(dir, "latchkey.db") } };
    const first = await freshServer(cfg);
    const init = await first.call("PUT", "sys/init", { secret_shares: 1, secret_threshold: 1 });
    const unsealed = await first.call("PUT", "sys/unseal", { key: init.json.keys_base64[0] });
    expect(unsealed.json.cluster_id).toMatch(UUID);
    await first.server.close();

    const second = await freshServer(cfg);
    expect((await second.call("GET", "sys/seal-status")).json).toMatchObject({ sealed: true, cluster_id: "" });
    const again = await second.call("PUT", "sys/unseal", { key: init.json.keys_base64[0] });
    expect(again.json.cluster_id).toBe(unsealed.json.cluster_id);
  });
});

describe("sys/init", () => {
  it("leaves a Shamir-sealed server sealed until the threshold of unseal keys arrives", async () => {
    const { call } = await freshServer();
    const init = await call("PUT", "sys/init", { secret_shares: 3, secret_threshold: 2 });
    expect(init.status).toBe(200);
    const { keys_base64: keys, root_token: root } = init.json as { keys_base64: string[]; root_token: string };
    expect(keys).toHaveLength(3);
    expect((await call("GET", "sys/seal-status")).json).toMatchObject({ initialized: true, sealed: true, t: 2, n: 3, progress: 0 });
    expect((await call("GET", "sys/health")).status).toBe(503);
    expect((await call("GET", "auth/token/lookup-self", undefined, root)).status).toBe(503);
    expect((await call("PUT", "sys/unseal", { key: keys[0] })).json).toMatchObject({ sealed: true, progress: 1 });
    expect((await call("PUT", "sys/unseal", { key: keys[2] })).json).toMatchObject({ sealed: false, progress: 0 });
    const self = await call("GET", "auth/token/lookup-self", undefined, root);
    expect(self.status).toBe(200);
    expect(self.json.data.policies).toEqual(["root"]);
  });

  it("leaves an auto-sealed server unsealed, since it unseals itself", async () => {
    const dir = mkdtempSync(join(tmpdir(), "latchkey-init-auto-"));
    const { call } = await freshServer({ seal: { type: "auto", keyFile: join(dir, "unseal.key") } });
    const init = await call("PUT", "sys/init", {});
    expect(init.status).toBe(200);
    expect(init.json.keys_base64).toEqual([]);
    expect((await call("GET", "sys/seal-status")).json).toMatchObject({ type: "auto", initialized: true, sealed: false });
    expect((await call("GET", "auth/token/lookup-self", undefined, init.json.root_token)).status).toBe(200);
  });

  it("leaves dev mode unsealed", async () => {
    s = await devServer();
    expect((await s.request("GET", "sys/seal-status", { token: null })).json).toMatchObject({ initialized: true, sealed: false });
    expect((await s.request("GET", "auth/token/lookup-self")).status).toBe(200);
  });
});
