import { mkdtempSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Agent, request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, autoSealConfig, startServerProcess, type ServerProcess } from "../helpers/process.js";

const ROOT = "lks.concurrency-root";

/** Sends `count` copies of one GET down a single connection without waiting for answers; returns each status. */
function pipelined(address: string, path: string, token: string, count: number): Promise<number[]> {
  const url = new URL(address);
  const one = `GET /v1/${path} HTTP/1.1\r\nHost: ${url.host}\r\nX-Vault-Token: ${token}\r\n\r\n`;
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname);
    let received = "";
    const statuses = () => [...received.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`only ${statuses().length} of ${count} answers arrived`));
    }, 20_000);
    socket.on("data", (chunk) => {
      received += chunk.toString();
      if (statuses().length >= count) {
        clearTimeout(timer);
        socket.end();
        resolve(statuses());
      }
    });
    socket.on("error", reject);
    socket.write(one.repeat(count));
  });
}

/** `count` requests at once over up to `connections` sockets; returns each status. */
async function parallel(
  address: string,
  count: number,
  connections: number,
  send: (i: number) => { method: "GET" | "POST"; path: string; token: string; body?: unknown },
): Promise<number[]> {
  const dispatcher = new Agent({ connections, pipelining: 1 });
  try {
    return await Promise.all(
      Array.from({ length: count }, async (_, i) => {
        const r = send(i);
        const res = await request(`${address}/v1/${r.path}`, {
          method: r.method,
          dispatcher,
          headers: { "x-vault-token": r.token, ...(r.body ? { "content-type": "application/json" } : {}) },
          body: r.body === undefined ? undefined : JSON.stringify(r.body),
        });
        await res.body.text();
        return res.statusCode;
      }),
    );
  } finally {
    await dispatcher.close();
  }
}

const ok = (statuses: number[]) => statuses.filter((s) => s === 200).length;

describe("limited-use tokens and check-and-set under concurrent requests (built server, SQLite)", () => {
  let server: ServerProcess;
  beforeAll(async () => {
    server = await startServerProcess(["--dev", "--dev-root-token", ROOT, "--dev-listen-address", "127.0.0.1:0"]);
    const put = await api(server.address, "POST", "secret/data/shared", ROOT, { data: { v: "1" } });
    expect(put.status).toBe(200);
  });
  afterAll(async () => {
    await server.stop();
  });

  const limitedToken = async (uses: number) => {
    const res = await api(server.address, "POST", "auth/token/create", ROOT, { policies: ["root"], num_uses: uses });
    expect(res.status).toBe(200);
    return res.json.auth.client_token as string;
  };

  it("answers a num_uses=1 token once among 50 pipelined requests on one connection", async () => {
    const token = await limitedToken(1);
    const statuses = await pipelined(server.address, "secret/data/shared", token, 50);
    expect(statuses).toHaveLength(50);
    expect(ok(statuses)).toBe(1);
    expect(statuses.filter((s) => s !== 200).every((s) => s === 403)).toBe(true);
  });

  it("answers a num_uses=3 token exactly three times among 50 requests over 25 connections", async () => {
    const token = await limitedToken(3);
    const statuses = await parallel(server.address, 50, 25, () => ({ method: "GET", path: "secret/data/shared", token }));
    expect(ok(statuses)).toBe(3);
  });

  it("lets exactly one of 20 concurrent check-and-set writes of the same version win", async () => {
    const created = await api(server.address, "POST", "secret/data/cas", ROOT, { data: { n: "0" } });
    const version = created.json.data.version as number;
    const statuses = await parallel(server.address, 20, 20, (i) => ({
      method: "POST",
      path: "secret/data/cas",
      token: ROOT,
      body: { data: { n: String(i) }, options: { cas: version } },
    }));
    expect(ok(statuses)).toBe(1);
    const meta = await api(server.address, "GET", "secret/metadata/cas", ROOT);
    expect(meta.json.data.current_version).toBe(version + 1);
  });

  it("renews a token concurrently without losing it", async () => {
    const created = await api(server.address, "POST", "auth/token/create", ROOT, { policies: ["default"], ttl: "1h" });
    const token = created.json.auth.client_token as string;
    const statuses = await parallel(server.address, 30, 15, () => ({
      method: "POST",
      path: "auth/token/renew-self",
      token,
      body: { increment: "2h" },
    }));
    expect(ok(statuses)).toBe(30);
    const lookup = await api(server.address, "GET", "auth/token/lookup-self", token);
    expect(lookup.status).toBe(200);
    expect(lookup.json.data.ttl).toBeGreaterThan(3600);
  });
});

describe("a crash during token creation leaves no lease without its token", () => {
  it("keeps every auth lease matched to a token across SIGKILLs under 32 concurrent creations", async () => {
    const dir = mkdtempSync(join(tmpdir(), "latchkey-crash-"));
    const config = autoSealConfig(dir);
    let server = await startServerProcess(["--config", config]);
    const init = await api(server.address, "PUT", "sys/init", undefined, { secret_shares: 1, secret_threshold: 1 });
    const root = init.json.root_token as string;

    for (let round = 0; round < 3; round++) {
      const address = server.address;
      let stop = false;
      const workers = Array.from({ length: 32 }, async () => {
        while (!stop) {
          await api(address, "POST", "auth/token/create", root, { policies: ["default"], ttl: "1h" }).catch(() => undefined);
        }
      });
      await new Promise((resolve) => setTimeout(resolve, 300 + round * 150));
      await server.stop("SIGKILL");
      stop = true;
      await Promise.all(workers);
      server = await startServerProcess(["--config", config]);
    }
    try {
      const leases = await api(server.address, "GET", "sys/leases/lookup/auth/token/create?list=true", root);
      const accessors = await api(server.address, "GET", "auth/token/accessors?list=true", root);
      const leaseCount = (leases.json.data?.keys ?? []).length as number;
      const tokenCount = (accessors.json.data.keys as string[]).length;
      expect(leaseCount).toBeGreaterThan(0);
      // Every token but the root token (which never expires) has exactly one auth lease.
      expect(leaseCount).toBe(tokenCount - 1);
    } finally {
      await server.stop();
    }
  }, 60_000);
});
