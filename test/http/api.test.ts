import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { createFileAuditDevice } from "../../src/core/audit/file.js";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { pino } from "pino";
import { DEFAULT_CONFIG } from "../../src/server/config.js";
import { buildServer } from "../../src/server/main.js";
import { devServer, ROOT_TOKEN, type DevServer } from "../helpers/server.js";

let s: DevServer;
beforeEach(async () => {
  s = await devServer();
});
afterEach(async () => {
  await s.close();
});

describe("envelope and errors", () => {
  it("answers sys/health bare, without a token", async () => {
    const res = await s.request("GET", "sys/health", { token: null });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ initialized: true, sealed: false, standby: false });
  });

  it("wraps data in Vault's envelope", async () => {
    const res = await s.request("GET", "auth/token/lookup-self");
    expect(res.status).toBe(200);
    expect(Object.keys(res.json).sort()).toEqual(
      ["auth", "data", "lease_duration", "lease_id", "mount_type", "renewable", "request_id", "warnings", "wrap_info"].sort(),
    );
    expect(res.json.data.policies).toEqual(["root"]);
    expect(res.json.request_id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("accepts Authorization: Bearer as well as X-Vault-Token", async () => {
    const res = await s.request("GET", "auth/token/lookup-self", {
      token: null,
      headers: { authorization: `Bearer ${ROOT_TOKEN}` },
    });
    expect(res.status).toBe(200);
  });

  it("refuses a missing or unknown token with 403", async () => {
    expect((await s.request("GET", "secret/data/x", { token: null })).json).toEqual({
      errors: ["permission denied: missing client token"],
    });
    const bad = await s.request("GET", "secret/data/x", { token: "lks.nope" });
    expect(bad.status).toBe(403);
    expect(bad.json.errors).toEqual(["permission denied: invalid token"]);
  });

  it("gives 400 for malformed JSON and names the problem", async () => {
    const res = await s.request("POST", "secret/data/x", { rawBody: '{"data": {"a": ' });
    expect(res.status).toBe(400);
    expect(res.json.errors[0]).toMatch(/^malformed JSON in request body/);
  });

  it("gives 400 for a JSON body that is not an object", async () => {
    const res = await s.request("POST", "secret/data/x", { rawBody: "[1,2]" });
    expect(res.status).toBe(400);
    expect(res.json.errors).toEqual(["request body must be a JSON object"]);
  });

  it("gives 413 for a body over the limit and stores nothing", async () => {
    const small = await devServer({ maxRequestSize: 1024 });
    try {
      const res = await small.request("POST", "secret/data/big", { body: { data: { v: "x".repeat(2000) } } });
      expect(res.status).toBe(413);
      expect(res.json.errors[0]).toMatch(/request body too large: the limit is 1024 bytes/);
      expect((await small.request("GET", "secret/data/big")).status).toBe(404);
    } finally {
      await small.close();
    }
  });

  it("gives 404 for unknown mounts, unknown paths and non-API URLs", async () => {
    const a = await s.request("GET", "nosuchmount/foo");
    expect(a.status).toBe(404);
    expect(a.json.errors[0]).toMatch(/no handler for route "nosuchmount\/foo"/);
    const b = await s.request("GET", "sys/no-such-endpoint");
    expect(b.status).toBe(404);
    expect(b.json.errors[0]).toMatch(/unsupported path/);
    const c = await s.request("GET", "/other");
    expect(c.status).toBe(404);
  });

  it("gives 405 for an operation the path does not support", async () => {
    const res = await s.request("DELETE", "sys/health");
    expect(res.status).toBe(405);
    expect(res.json.errors[0]).toMatch(/unsupported operation delete/);
  });

  it("rejects a path that tries to climb out of its mount", async () => {
    const res = await s.request("GET", "secret/data/x%2F..%2F..%2Fy");
    expect(res.status).toBe(400);
    expect(res.json.errors[0]).toMatch(/^invalid path/);
  });
});

describe("seal", () => {
  it("answers 503 while sealed and serves again after unseal", async () => {
    const key = s.dev!.unsealKey;
    expect((await s.request("PUT", "sys/seal")).status).toBe(204);
    const sealedRes = await s.request("GET", "secret/data/x");
    expect(sealedRes.status).toBe(503);
    expect(sealedRes.json.errors).toEqual(["latchkey is sealed"]);
    expect((await s.request("GET", "sys/seal-status", { token: null })).json).toMatchObject({ sealed: true, t: 1, n: 1 });
    expect((await s.request("GET", "sys/health", { token: null })).status).toBe(503);
    const unseal = await s.request("PUT", "sys/unseal", { token: null, body: { key } });
    expect(unseal.status).toBe(200);
    expect(unseal.json.sealed).toBe(false);
    expect((await s.request("GET", "auth/token/lookup-self")).status).toBe(200);
  });

  it("starts the unsealed services once when the last keys arrive in several requests at once", async () => {
    const server = await buildServer(
      { ...structuredClone(DEFAULT_CONFIG), storage: { type: "memory" } },
      { logger: pino({ level: "silent" }) },
    );
    const put = async (path: string, body: unknown) => {
      const res = await server.app.inject({ method: "PUT", url: `/v1/${path}`, payload: body as Record<string, unknown> });
      return { status: res.statusCode, json: res.body ? (JSON.parse(res.body) as Record<string, any>) : {} };
    };
    try {
      const init = await put("sys/init", { secret_shares: 3, secret_threshold: 2 });
      const keys = init.json.keys_base64 as string[];
      if (!server.core.isSealed()) await server.core.seal();
      const unsealed = server.core.unsealed.bind(server.core);
      let starts = 0;
      server.core.unsealed = async () => {
        starts++;
        await unsealed();
      };
      expect((await put("sys/unseal", { key: keys[0] })).json.sealed).toBe(true);
      // Straight into the core, so that both are in flight together.
      const unseal = (key: string) =>
        server.core.handle({ method: "PUT", path: "sys/unseal", query: {}, body: { key }, remoteAddress: "127.0.0.1" });
      const answers = await Promise.all([unseal(keys[1]), unseal(keys[2])]);
      expect(answers.map((a) => a.status)).toEqual([200, 200]);
      expect(server.core.isSealed()).toBe(false);
      expect(starts).toBe(1);
    } finally {
      await server.close();
    }
  });

  it("refuses a wrong unseal key", async () => {
    await s.request("PUT", "sys/seal");
    const res = await s.request("PUT", "sys/unseal", { token: null, body: { key: Buffer.alloc(33, 7).toString("base64") } });
    expect(res.status).toBe(400);
    expect((await s.request("GET", "sys/seal-status", { token: null })).json.sealed).toBe(true);
  });

  it("refuses a second init", async () => {
    const res = await s.request("PUT", "sys/init", { token: null, body: { secret_shares: 1, secret_threshold: 1 } });
    expect(res.status).toBe(400);
    expect(res.json.errors).toEqual(["latchkey is already initialized"]);
  });
});

describe("mounts and auth methods", () => {
  it("enables, lists, tunes and disables a KV mount", async () => {
    expect((await s.request("POST", "sys/mounts/team-a", { body: { type: "kv", options: { version: "2" } } })).status).toBe(204);
    const list = await s.request("GET", "sys/mounts");
    expect(list.json.data["team-a/"]).toMatchObject({ type: "kv", options: { version: "2" } });
    expect(list.json.data["secret/"]).toMatchObject({ type: "kv" });
    await s.request("POST", "team-a/data/x", { body: { data: { a: "1" } } });
    await s.request("POST", "sys/mounts/team-a/tune", { body: { default_lease_ttl: "1h" } });
    expect((await s.request("GET", "sys/mounts/team-a/tune")).json.data.default_lease_ttl).toBe(3600);
    expect((await s.request("DELETE", "sys/mounts/team-a")).status).toBe(204);
    expect((await s.request("GET", "team-a/data/x")).status).toBe(404);
  });

  it("refuses overlapping and unknown mounts with 400", async () => {
    const a = await s.request("POST", "sys/mounts/secret/inner", { body: { type: "kv" } });
    expect(a.status).toBe(400);
    expect(a.json.errors[0]).toMatch(/already in use at secret\//);
    const b = await s.request("POST", "sys/mounts/x", { body: { type: "nosuch" } });
    expect(b.status).toBe(400);
    expect(b.json.errors[0]).toMatch(/unknown secrets engine type "nosuch"/);
  });

  it("lists the token auth method", async () => {
    const res = await s.request("GET", "sys/auth");
    expect(res.json.data["token/"]).toMatchObject({ type: "token" });
  });
});

describe("policies over HTTP", () => {
  const policy = `
    path "secret/data/app/*" { capabilities = ["read", "create", "update"] }
    path "secret/data/app/locked" { capabilities = ["deny"] }
  `;

  it("stores, reads, lists and enforces a policy", async () => {
    expect((await s.request("PUT", "sys/policies/acl/app", { body: { policy } })).status).toBe(204);
    expect((await s.request("GET", "sys/policies/acl/app")).json.data).toEqual({ name: "app", policy });
    expect((await s.request("LIST", "sys/policies/acl")).json.data.keys).toEqual(expect.arrayContaining(["app", "default"]));
    const token = (await s.request("POST", "auth/token/create", { body: { policies: ["app"] } })).json.auth.client_token;
    expect((await s.request("POST", "secret/data/app/one", { token, body: { data: { k: "v" } } })).status).toBe(200);
    expect((await s.request("GET", "secret/data/app/one", { token })).json.data.data).toEqual({ k: "v" });
    expect((await s.request("GET", "secret/data/other", { token })).status).toBe(403);
    expect((await s.request("POST", "secret/data/app/locked", { token, body: { data: { k: "v" } } })).status).toBe(403);
    expect((await s.request("PUT", "sys/policies/acl/app2", { token, body: { policy } })).status).toBe(403);
  });

  it("rejects a policy that does not parse, naming the problem", async () => {
    const res = await s.request("PUT", "sys/policies/acl/bad", { body: { policy: 'path "x" { capabilities = ["fly"] }' } });
    expect(res.status).toBe(400);
    expect(res.json.errors[0]).toMatch(/fly/);
  });

  it("gives one templated policy a subtree per namespace", async () => {
    await s.request("PUT", "sys/policies/acl/ns", {
      body: { policy: 'path "secret/data/ns/{{token.metadata.service_account_namespace}}/*" { capabilities = ["read","create","update"] }' },
    });
    const mk = async (ns: string) =>
      (await s.request("POST", "auth/token/create", { body: { policies: ["ns"], meta: { service_account_namespace: ns } } })).json
        .auth.client_token as string;
    const a = await mk("team-a");
    expect((await s.request("POST", "secret/data/ns/team-a/db", { token: a, body: { data: { p: "1" } } })).status).toBe(200);
    expect((await s.request("POST", "secret/data/ns/team-b/db", { token: a, body: { data: { p: "1" } } })).status).toBe(403);
  });
});

describe("tokens and leases", () => {
  it("creates a child token, looks it up, renews and revokes it with its parent", async () => {
    await s.request("PUT", "sys/policies/acl/creator", {
      body: { policy: 'path "auth/token/create" { capabilities = ["create", "update"] }' },
    });
    const parent = (await s.request("POST", "auth/token/create", { body: { policies: ["creator"], ttl: "1h" } })).json.auth;
    expect(parent.client_token).toMatch(/^lks\./);
    expect(parent.lease_duration).toBe(3600);
    const child = (await s.request("POST", "auth/token/create", { token: parent.client_token, body: { ttl: "10m" } })).json.auth;
    const look = await s.request("POST", "auth/token/lookup", { body: { token: child.client_token } });
    expect(look.json.data).toMatchObject({ policies: ["creator", "default"], ttl: expect.any(Number), orphan: false });
    const renewed = await s.request("POST", "auth/token/renew-self", { token: child.client_token, body: { increment: "20m" } });
    expect(renewed.status).toBe(200);
    expect(renewed.json.auth.lease_duration).toBeGreaterThan(600);
    expect((await s.request("POST", "auth/token/revoke", { body: { token: parent.client_token } })).status).toBe(204);
    expect((await s.request("GET", "auth/token/lookup-self", { token: child.client_token })).status).toBe(403);
  });

  it("issues self-contained batch tokens that stop working after the keyring rotates", async () => {
    const batch = (await s.request("POST", "auth/token/create", { body: { type: "batch", policies: ["default"], ttl: "1h" } })).json.auth;
    expect(batch.client_token).toMatch(/^lkb\./);
    expect((await s.request("GET", "auth/token/lookup-self", { token: batch.client_token })).status).toBe(200);
    expect((await s.request("PUT", "sys/rotate")).status).toBe(204);
    expect((await s.request("GET", "auth/token/lookup-self", { token: batch.client_token })).status).toBe(403);
  });

  it("looks up, renews and revokes the lease of a token", async () => {
    const t = (await s.request("POST", "auth/token/create", { body: { policies: ["default"], ttl: "1h" } })).json.auth;
    const look = await s.request("PUT", "sys/leases/lookup", { body: { lease_id: `auth/token/create/${"x"}` } });
    expect(look.status).toBe(400);
    const list = await s.request("LIST", "sys/leases/lookup/auth/token/create");
    expect(list.status).toBe(200);
    expect(list.json.data.keys.length).toBeGreaterThanOrEqual(1);
    const leaseId = `auth/token/create/${list.json.data.keys[0]}`;
    const info = await s.request("PUT", "sys/leases/lookup", { body: { lease_id: leaseId } });
    expect(info.json.data).toMatchObject({ id: leaseId, renewable: true });
    expect((await s.request("PUT", "sys/leases/revoke-prefix/auth/token/create")).status).toBe(204);
    expect((await s.request("GET", "auth/token/lookup-self", { token: t.client_token })).status).toBe(403);
  });

  it("expires a token when its lease runs out", async () => {
    const fast = await devServer({ leaseTickSeconds: 1 });
    try {
      const t = (await fast.request("POST", "auth/token/create", { body: { policies: ["default"], ttl: "1s" } })).json.auth;
      expect((await fast.request("GET", "auth/token/lookup-self", { token: t.client_token })).status).toBe(200);
      await new Promise((r) => setTimeout(r, 2500));
      expect((await fast.request("GET", "auth/token/lookup-self", { token: t.client_token })).status).toBe(403);
      const list = await fast.request("LIST", "sys/leases/lookup/auth/token/create");
      expect(list.json.data?.keys ?? []).toEqual([]);
    } finally {
      await fast.close();
    }
  });
});

describe("audit", () => {
  it("logs every request and response with HMAC'd values, and sys/audit-hash reproduces them", async () => {
    const dir = mkdtempSync(join(tmpdir(), "latchkey-audit-"));
    const file = join(dir, "audit.log");
    expect((await s.request("PUT", "sys/audit/file", { body: { type: "file", options: { file_path: file } } })).status).toBe(204);
    await s.request("POST", "secret/data/audited", { body: { data: { password: "hunter2-very-secret" } } });
    await s.request("GET", "secret/data/audited");
    const text = readFileSync(file, "utf8");
    expect(text).not.toContain("hunter2-very-secret");
    expect(text).not.toContain(ROOT_TOKEN);
    const lines = text.trim().split("\n").map((l) => JSON.parse(l));
    expect(lines.filter((l) => l.type === "request").length).toBeGreaterThanOrEqual(2);
    expect(lines.filter((l) => l.type === "response").length).toBeGreaterThanOrEqual(2);
    const hash = (await s.request("PUT", "sys/audit-hash/file", { body: { input: "hunter2-very-secret" } })).json.data.hash;
    expect(hash).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
    expect(text).toContain(hash);
    const tokenHash = (await s.request("PUT", "sys/audit-hash/file", { body: { input: ROOT_TOKEN } })).json.data.hash;
    expect(text).toContain(tokenHash);
    expect((await s.request("GET", "sys/audit")).json.data["file/"]).toMatchObject({ type: "file" });
    expect((await s.request("DELETE", "sys/audit/file")).status).toBe(204);
  });

  it("refuses to enable a device that cannot write, and keeps nothing of it", async () => {
    // /dev/full accepts the open and fails every write with ENOSPC: a full disk.
    const res = await s.request("PUT", "sys/audit/full", { body: { type: "file", options: { file_path: "/dev/full" } } });
    expect(res.status).toBe(400);
    expect(res.json.errors).toEqual(['audit device "full/" cannot write to /dev/full: ENOSPC']);
    expect((await s.request("GET", "sys/audit")).json.data ?? {}).toEqual({});
  });

  it("fails the request when the only audit device cannot write", async () => {
    // A real file device whose disk filled up after it was enabled.
    await s.core.audit.enable("full/", createFileAuditDevice({ path: "/dev/full", salt: randomBytes(32) }));
    const res = await s.request("POST", "secret/data/not-audited", { body: { data: { a: "b" } } });
    expect(res.status).toBe(500);
    expect(res.json.errors).toEqual(["audit log failure: no audit device could write the entry"]);
    await s.core.audit.disable("full/");
    expect((await s.request("GET", "secret/data/not-audited")).status).toBe(404);
  });
});

describe("metrics", () => {
  it("serves Prometheus text", async () => {
    await s.request("GET", "sys/health", { token: null });
    const res = await s.request("GET", "sys/metrics?format=prometheus");
    expect(res.status).toBe(200);
    expect(res.text).toContain("latchkey_request_duration_seconds");
  });
});

describe("policy parameter constraints", () => {
  it("enforces allowed_parameters and denied_parameters on writes", async () => {
    await s.request("PUT", "sys/policies/acl/params", {
      body: {
        policy: `path "sys/mounts/*" {
  capabilities = ["create", "update"]
  allowed_parameters = { "type" = ["kv"], "options" = [], "description" = [] }
}`,
      },
    });
    const token = (await s.request("POST", "auth/token/create", { body: { policies: ["params"] } })).json.auth.client_token;
    expect((await s.request("POST", "sys/mounts/ok", { token, body: { type: "kv" } })).status).toBe(204);
    const bad = await s.request("POST", "sys/mounts/bad", { token, body: { type: "kv", config: { max_lease_ttl: "1h" } } });
    expect(bad.status).toBe(403);
    expect(bad.json.errors).toEqual(['permission denied: parameter "config" is not allowed']);
  });
});
