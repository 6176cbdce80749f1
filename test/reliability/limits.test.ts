import { createServer, type AddressInfo, type Socket } from "node:net";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pino } from "pino";
import { startServer, type RunningServer } from "../../src/server/main.js";
import { DEFAULT_CONFIG, type ServerConfig } from "../../src/server/config.js";
import { ROOT_TOKEN } from "../helpers/server.js";

/** A dev server listening on a real socket, as a client flood would meet it. */
async function listening(overrides: Partial<ServerConfig> = {}) {
  const cfg: ServerConfig = {
    ...structuredClone(DEFAULT_CONFIG),
    storage: { type: "memory" },
    listener: { ...DEFAULT_CONFIG.listener, address: "127.0.0.1:0" },
    ...overrides,
  };
  return startServer(cfg, { dev: true, devRootToken: ROOT_TOKEN, logger: pino({ level: "silent" }) });
}

async function call(server: RunningServer, method: string, path: string, body?: unknown, token: string | null = ROOT_TOKEN) {
  const res = await request(`${server.address}/v1/${path}`, {
    method: method as "GET",
    headers: { ...(token ? { "x-vault-token": token } : {}), "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, json: text ? JSON.parse(text) : {} };
}

describe("rate-limit quotas over a real listener", () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await listening();
  }, 30_000);
  afterAll(async () => server?.close());

  it("writes, reads, lists and deletes quotas in Vault's shapes", async () => {
    expect((await call(server, "POST", "sys/quotas/rate-limit/kv", { path: "secret/", rate: 5, interval: "10s", block_interval: "1m" })).status).toBe(204);
    const read = await call(server, "GET", "sys/quotas/rate-limit/kv");
    expect(read.json.data).toEqual({
      name: "kv", path: "secret/", type: "rate-limit", rate: 5, interval: 10, block_interval: 60, role: "", inheritable: true,
    });
    const list = await call(server, "GET", "sys/quotas/rate-limit?list=true");
    expect(list.json.data.keys).toEqual(["kv"]);
    expect((await call(server, "DELETE", "sys/quotas/rate-limit/kv")).status).toBe(204);
    expect((await call(server, "GET", "sys/quotas/rate-limit/kv")).status).toBe(404);
  });

  it("refuses bad quota input with a 400 naming the field", async () => {
    const bad = await call(server, "POST", "sys/quotas/rate-limit/bad", { rate: -1 });
    expect(bad.status).toBe(400);
    expect(bad.json.errors[0]).toMatch(/"rate"/);
    const noMount = await call(server, "POST", "sys/quotas/rate-limit/bad", { rate: 1, path: "nowhere/" });
    expect(noMount.status).toBe(400);
    expect(noMount.json.errors[0]).toMatch(/invalid mount path "nowhere\/"/);
    expect((await call(server, "POST", "sys/quotas/rate-limit/bad", { rate: 1, interval: "soon" })).status).toBe(400);
  });

  it("limits logins per client: 429 with Retry-After and Vault's envelope, counted", async () => {
    await call(server, "POST", "sys/quotas/rate-limit/login", { path: "auth/token/", rate: 3, interval: "1m" });
    await call(server, "POST", "sys/quotas/config", { enable_rate_limit_response_headers: true });
    const statuses: number[] = [];
    let refused: Awaited<ReturnType<typeof call>> | undefined;
    for (let i = 0; i < 10; i++) {
      const r = await call(server, "GET", "auth/token/lookup-self");
      statuses.push(r.status);
      if (r.status === 429) refused ??= r;
    }
    const refusedCount = statuses.filter((s) => s === 429).length;
    console.log(`limits: ${refusedCount} of ${statuses.length} requests refused at rate 3/min`);
    expect(statuses.slice(0, 3)).toEqual([200, 200, 200]);
    expect(refusedCount).toBe(7);
    expect(refused!.json).toEqual({ errors: ['request path "auth/token/lookup-self": rate limit quota exceeded'] });
    expect(Number(refused!.headers["retry-after"])).toBeGreaterThan(0);
    expect(refused!.headers["x-ratelimit-limit"]).toBe("3");
    // Other paths and the exempt ones are not governed by this quota.
    expect((await call(server, "GET", "sys/health")).status).toBe(200);
    expect((await call(server, "GET", "secret/config")).status).toBe(200);
    await call(server, "DELETE", "sys/quotas/rate-limit/login");
    expect((await call(server, "GET", "auth/token/lookup-self")).status).toBe(200);
  });
});

describe("the global in-flight cap", () => {
  let server: RunningServer;
  const jwt = [{ alg: "RS256" }, {
      sub: "system:serviceaccount:a:b",
      iss: "kubernetes/serviceaccount",
      "kubernetes.io/serviceaccount/namespace": "a",
      "kubernetes.io/serviceaccount/service-account.name": "b",
      "kubernetes.io/serviceaccount/service-account.uid": "00000000-0000-0000-0000-000000000001",
    }, "sig"]
    .map((p) => Buffer.from(typeof p === "string" ? p : JSON.stringify(p)).toString("base64url"))
    .join(".");
  // An API server that accepts connections and never answers: logins through it stay in flight.
  const held = new Set<Socket>();
  const silent = createServer((socket) => {
    held.add(socket);
    socket.on("error", () => undefined);
  });
  beforeAll(async () => {
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    server = await listening({ maxInflightRequests: 2 });
    const port = (silent.address() as AddressInfo).port;
    const enable = await call(server, "POST", "sys/auth/kubernetes", { type: "kubernetes" });
    expect(enable.status, JSON.stringify(enable.json)).toBe(204);
    const conf = await call(server, "POST", "auth/kubernetes/config", { kubernetes_host: `http://127.0.0.1:${port}`, token_reviewer_jwt: jwt });
    expect(conf.status, JSON.stringify(conf.json)).toBe(204);
    expect((await call(server, "POST", "auth/kubernetes/role/any", { bound_service_account_names: "*", bound_service_account_namespaces: "*" })).status).toBe(204);
  }, 30_000);
  afterAll(async () => {
    for (const s of held) s.destroy();
    silent.close();
    await server?.close();
  });

  it("answers 503 with Retry-After beyond max_inflight_requests and recovers", async () => {
    const logins = Array.from({ length: 2 }, () => call(server, "POST", "auth/kubernetes/login", { role: "any", jwt }, null));
    const early = await Promise.race([logins[0], new Promise((r) => setTimeout(() => r("pending"), 3000))]);
    expect(early).toBe("pending");
    await eventually(() => expect(held.size).toBeGreaterThanOrEqual(2));
    const flood = await Promise.all(Array.from({ length: 20 }, () => call(server, "GET", "auth/token/lookup-self")));
    const refused = flood.filter((r) => r.status === 503);
    console.log(`limits: ${refused.length} of ${flood.length} requests refused at max_inflight_requests=2 with 2 in flight`);
    expect(refused.length).toBe(flood.length);
    expect(refused[0].headers["retry-after"]).toBe("1");
    expect(refused[0].json.errors[0]).toMatch(/limit of 2 requests in progress/);
    // The held logins end with an upstream error once the API server drops them; the cap frees up.
    for (const s of held) s.destroy();
    const ended = await Promise.all(logins);
    for (const r of ended) expect([502, 503, 504]).toContain(r.status);
    expect((await call(server, "GET", "auth/token/lookup-self")).status).toBe(200);
  }, 90_000);
});

async function eventually(check: () => void, timeoutMs = 20_000) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      return check();
    } catch (err) {
      if (Date.now() > until) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
