import fc from "fast-check";
import { request } from "undici";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer, type RunningServer } from "../../src/server/main.js";
import { DEFAULT_CONFIG, type ServerConfig } from "../../src/server/config.js";
import { ROOT_TOKEN } from "../helpers/server.js";

const CASES = 2000;
const SEGMENTS = ["sys", "secret", "data", "metadata", "auth", "token", "cubbyhole", "policy", "leases", "wrapping", "mounts", "quotas", "rate-limit", "lookup", "x", "..", "%2e", "", "a b", "%00"];

describe("fuzzing the HTTP API over a real listener", () => {
  let server: RunningServer;
  beforeAll(async () => {
    const cfg: ServerConfig = {
      ...structuredClone(DEFAULT_CONFIG),
      storage: { type: "memory" },
      listener: { ...DEFAULT_CONFIG.listener, address: "127.0.0.1:0" },
    };
    server = await startServer(cfg, { dev: true, devRootToken: ROOT_TOKEN, logger: pino({ level: "silent" }) });
  }, 30_000);
  afterAll(async () => server?.close());

  it(`answers ${CASES} random requests without a 5xx, a crash or a hang`, async () => {
    const rssBefore = process.memoryUsage().rss;
    const statuses = new Map<number, number>();
    const arb = fc.record({
      method: fc.constantFrom("GET", "POST", "PUT", "PATCH", "DELETE"),
      path: fc.array(fc.oneof(fc.constantFrom(...SEGMENTS), fc.string({ maxLength: 8 }).map(encodeURIComponent)), { maxLength: 6 }),
      query: fc.dictionary(fc.constantFrom("list", "version", "format", "cas", "x"), fc.string({ maxLength: 6 }), { maxKeys: 3 }),
      token: fc.oneof(fc.constant(ROOT_TOKEN), fc.constant(undefined), fc.string({ maxLength: 12 })),
      body: fc.oneof(fc.constant(undefined), fc.json({ maxDepth: 4 }), fc.string({ maxLength: 40 })),
      contentType: fc.constantFrom("application/json", "text/plain", "application/x-www-form-urlencoded", undefined),
    });
    await fc.assert(
      fc.asyncProperty(arb, async (c) => {
        const qs = new URLSearchParams(c.query).toString();
        const headers: Record<string, string> = {};
        if (c.token !== undefined && /^[\x21-\x7e]*$/.test(c.token)) headers["x-vault-token"] = c.token;
        if (c.contentType) headers["content-type"] = c.contentType;
        const body = c.body === undefined || c.method === "GET" ? undefined : c.body;
        const res = await request(`${server.address}/v1/${c.path.join("/")}${qs ? `?${qs}` : ""}`, {
          method: c.method as "GET",
          headers,
          body,
          headersTimeout: 10_000,
          bodyTimeout: 10_000,
        });
        const text = await res.body.text();
        statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
        expect(res.statusCode < 500 || res.statusCode === 503, `${c.method} ${c.path.join("/")} -> ${res.statusCode} ${text}`).toBe(true);
      }),
      { seed: 15, numRuns: CASES },
    );
    const grownMb = (process.memoryUsage().rss - rssBefore) / 1024 / 1024;
    console.log(`fuzz-http: ${CASES} cases, statuses ${JSON.stringify(Object.fromEntries(statuses))}, RSS grew ${grownMb.toFixed(1)} MiB`);
    expect(grownMb).toBeLessThan(200);
  }, 240_000);
});
