import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { clusterKeys, projectedToken, T0, type ClusterKeys } from "../../src/auth/kubernetes/test-harness.js";
import { devServer, ROOT_TOKEN, type DevServer } from "../helpers/server.js";

let s: DevServer;
beforeEach(async () => {
  s = await devServer();
});
afterEach(async () => {
  await s.close();
});

const nowSeconds = () => Math.floor(Date.now() / 1000);

/** A Kubernetes auth mount that verifies JWTs with `keys` locally, and a role named `app`. */
async function kubernetesMount(keys: ClusterKeys, role: Record<string, unknown>, path = "kubernetes") {
  expect((await s.request("POST", `sys/auth/${path}`, { body: { type: "kubernetes" } })).status).toBe(204);
  const config = await s.request("POST", `auth/${path}/config`, {
    body: { validation: "jwks", pem_keys: [keys.publicKeyPem] },
  });
  expect(config.status).toBe(204);
  const written = await s.request("POST", `auth/${path}/role/app`, {
    body: { bound_service_account_names: ["myapp"], bound_service_account_namespaces: ["default"], ...role },
  });
  expect(written.status).toBe(204);
}

/** A projected service-account token valid for an hour from now. */
const podJwt = (keys: ClusterKeys) => projectedToken(keys, { exp: nowSeconds() - T0 + 3600, iat: nowSeconds() - T0 });

async function login(keys: ClusterKeys, path = "kubernetes") {
  return s.request("POST", `auth/${path}/login`, { token: null, body: { role: "app", jwt: await podJwt(keys) } });
}

async function withAudit(): Promise<() => Array<Record<string, any>>> {
  const file = join(mkdtempSync(join(tmpdir(), "latchkey-audit-")), "audit.log");
  const enabled = await s.request("PUT", "sys/audit/file", { body: { type: "file", options: { file_path: file } } });
  expect(enabled.status).toBe(204);
  return () =>
    readFileSync(file, "utf8")
      .split("\n")
      .filter((line) => line !== "")
      .map((line) => JSON.parse(line) as Record<string, any>);
}

describe("no route to a root token through an auth method", () => {
  it("refuses a role with the root policy, so a mount admin cannot log in as root", async () => {
    const keys = await clusterKeys();
    await s.request("PUT", "sys/policies/acl/k8s-admin", {
      body: { policy: 'path "auth/kubernetes/*" { capabilities = ["create", "update", "read"] }' },
    });
    await kubernetesMount(keys, { token_policies: ["default"] });
    const admin = (await s.request("POST", "auth/token/create", { body: { policies: ["k8s-admin"] } })).json.auth
      .client_token as string;
    const role = await s.request("POST", "auth/kubernetes/role/app", {
      token: admin,
      body: { bound_service_account_names: ["myapp"], bound_service_account_namespaces: ["default"], token_policies: ["root"] },
    });
    expect(role.status).toBe(400);
    const res = await login(keys);
    expect(res.status).toBe(200);
    expect(res.json.auth.policies).not.toContain("root");
  });
});

describe("a mount's max_lease_ttl bounds its tokens", () => {
  it("caps auth/token/create after tuning sys/auth/token", async () => {
    expect((await s.request("POST", "sys/auth/token/tune", { body: { max_lease_ttl: "60s" } })).status).toBe(204);
    const created = await s.request("POST", "auth/token/create", { body: { policies: ["default"], ttl: "10h" } });
    expect(created.status).toBe(200);
    expect(created.json.auth.lease_duration).toBeLessThanOrEqual(60);
    const token = created.json.auth.client_token as string;
    const renewed = await s.request("POST", "auth/token/renew-self", { token, body: { increment: "100h" } });
    expect(renewed.status).toBe(200);
    expect(renewed.json.auth.lease_duration).toBeLessThanOrEqual(60);
    const explicit = await s.request("POST", "auth/token/create", { body: { policies: ["default"], explicit_max_ttl: "10h" } });
    expect(explicit.json.auth.lease_duration).toBeLessThanOrEqual(60);
  });

  it("caps the renewal of a login token after tuning the auth mount", async () => {
    const keys = await clusterKeys();
    await kubernetesMount(keys, { token_policies: ["default"], token_ttl: "1h" });
    const token = (await login(keys)).json.auth.client_token as string;
    expect((await s.request("POST", "sys/auth/kubernetes/tune", { body: { max_lease_ttl: "60s" } })).status).toBe(204);
    const renewed = await s.request("POST", "auth/token/renew-self", { token, body: { increment: "100h" } });
    expect(renewed.status).toBe(200);
    expect(renewed.json.auth.lease_duration).toBeLessThanOrEqual(60);
    const lookup = await s.request("GET", "auth/token/lookup-self", { token });
    expect(lookup.json.data.expire_time).toBeDefined();
    expect(Date.parse(lookup.json.data.expire_time) / 1000 - nowSeconds()).toBeLessThanOrEqual(61);
  });
});

describe("tokens die with the mount that issued them", () => {
  it("refuses a batch token once its auth mount is disabled, and after it is enabled again", async () => {
    const keys = await clusterKeys();
    await kubernetesMount(keys, { token_policies: ["default"], token_type: "batch" });
    const res = await login(keys);
    const batch = res.json.auth.client_token as string;
    expect(batch).toMatch(/^lkb\./);
    expect((await s.request("GET", "auth/token/lookup-self", { token: batch })).status).toBe(200);
    expect((await s.request("DELETE", "sys/auth/kubernetes")).status).toBe(204);
    expect((await s.request("GET", "auth/token/lookup-self", { token: batch })).status).toBe(403);
    await kubernetesMount(keys, { token_policies: ["default"], token_type: "batch" });
    expect((await s.request("GET", "auth/token/lookup-self", { token: batch })).status).toBe(403);
    // A new login through the new mount works.
    const again = (await login(keys)).json.auth.client_token as string;
    expect((await s.request("GET", "auth/token/lookup-self", { token: again })).status).toBe(200);
  });
});

describe("unauthenticated clients learn nothing about mounts", () => {
  it("answers the same 403 for an existing mount's unknown path and for a missing mount", async () => {
    const existing = await s.request("GET", "secret/nope/x", { token: null });
    const missing = await s.request("GET", "no-such-mount/x", { token: null });
    const invalid = await s.request("GET", "no-such-mount/x", { token: "lks.invalid" });
    const invalidExisting = await s.request("GET", "secret/nope/x", { token: "lks.invalid" });
    expect(existing.status).toBe(403);
    expect(missing).toMatchObject({ status: existing.status, json: existing.json });
    expect(invalid.status).toBe(403);
    expect(invalidExisting).toMatchObject({ status: invalid.status, json: invalid.json });
  });

  it("still serves unauthenticated paths without a token, and 404s to a valid token", async () => {
    expect((await s.request("GET", "sys/health", { token: null })).status).toBe(200);
    expect((await s.request("POST", "auth/kubernetes/login", { token: null, body: { role: "x", jwt: "a.b.c" } })).status).toBe(403);
    expect((await s.request("GET", "no-such-mount/x")).status).toBe(404);
    expect((await s.request("GET", "secret/nope/x")).status).toBe(404);
  });
});

describe("every request is audited, denied ones too", () => {
  it("records missing, invalid and under-privileged tokens with their error", async () => {
    const entries = await withAudit();
    await s.request("PUT", "sys/policies/acl/narrow", { body: { policy: 'path "secret/data/ok" { capabilities = ["read"] }' } });
    const narrow = (await s.request("POST", "auth/token/create", { body: { policies: ["narrow"] } })).json.auth
      .client_token as string;
    await s.request("GET", "secret/data/forbidden", { token: null });
    await s.request("GET", "secret/data/forbidden", { token: "lks.not-a-token" });
    await s.request("POST", "secret/data/forbidden", { token: narrow, body: { data: { pin: 739182645 } } });
    await s.request("GET", "no-such-mount/x", { token: null });

    const responses = entries().filter((e) => e.type === "response" && e.request.path !== "auth/token/create");
    const denied = responses.filter((e) => typeof e.error === "string" && e.error.startsWith("permission denied"));
    expect(denied.map((e) => e.request.path)).toEqual([
      "secret/data/forbidden",
      "secret/data/forbidden",
      "secret/data/forbidden",
      "no-such-mount/x",
    ]);
    expect(denied.map((e) => e.request.operation)).toEqual(["read", "read", "create", "read"]);
    // Each denial has its request entry too, and the invalid token is there only as an HMAC.
    const requests = entries().filter((e) => e.type === "request" && e.request.path === "secret/data/forbidden");
    expect(requests).toHaveLength(3);
    expect(requests[1].auth.client_token).toMatch(/^hmac-sha256:/);
    expect(JSON.stringify(entries())).not.toContain("lks.not-a-token");
    expect(JSON.stringify(entries())).not.toContain("739182645");
  });

  it("records a request the backend refuses, and one with a bad field", async () => {
    const entries = await withAudit();
    await s.request("POST", "secret/data/x", { body: { data: { a: 1 }, options: { cas: 7 } } });
    await s.request("POST", "auth/token/create", { body: { ttl: "forever" } });
    const errors = entries()
      .filter((e) => e.type === "response")
      .map((e) => [e.request.path, typeof e.error === "string" && e.error.length > 0]);
    expect(errors).toEqual([
      ["secret/data/x", true],
      ["auth/token/create", true],
    ]);
  });
});


describe("concurrent changes of the mount and audit tables", () => {
  it("mounts one engine when two enables of one path race, and keeps one table entry", async () => {
    const enable = () => s.core.handle({ method: "POST", path: "sys/mounts/raced", query: {}, body: { type: "kv" }, token: ROOT_TOKEN, remoteAddress: "127.0.0.1" });
    const answers = await Promise.all([enable(), enable(), enable()]);
    expect(answers.map((a) => a.status).sort()).toEqual([204, 400, 400]);
    const mounts = await s.request("GET", "sys/mounts");
    expect(Object.keys(mounts.json.data).filter((p) => p === "raced/")).toHaveLength(1);
    expect(s.core.services.mounts.list("mounts").filter((m) => m.path === "raced/")).toHaveLength(1);
  });

  it("enables one audit device when two enables of one path race", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "latchkey-audit-")), "audit.log");
    const enable = () =>
      s.core.handle({ method: "PUT", path: "sys/audit/raced", query: {}, body: { type: "file", options: { file_path: file } }, token: ROOT_TOKEN, remoteAddress: "127.0.0.1" });
    const answers = await Promise.all([enable(), enable()]);
    expect(answers.map((a) => a.status).sort()).toEqual([204, 400]);
    expect(s.core.auditTable.list().filter((d) => d.path === "raced/")).toHaveLength(1);
  });
});

describe("?help=1", () => {
  it("describes a path, its operations and fields to an authenticated caller", async () => {
    const res = await s.request("GET", "auth/token/create?help=1");
    expect(res.status).toBe(200);
    expect(res.json.help).toContain("Create a child token of the calling token.");
    expect(res.json.help).toContain("## PARAMETERS");
    expect(res.json.help).toMatch(/policies \(/);
    expect((await s.request("GET", "secret/data/x?help=1")).json.help).toContain("## OPERATIONS");
  });

  it("tells an unauthenticated caller nothing", async () => {
    expect((await s.request("GET", "auth/token/create?help=1", { token: null })).status).toBe(403);
  });
});
