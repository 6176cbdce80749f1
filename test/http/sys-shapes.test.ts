import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { clusterKeys, projectedToken, T0, type ClusterKeys } from "../../src/auth/kubernetes/test-harness.js";
import { VERSION } from "../../src/core/version.js";
import { devServer, type DevServer } from "../helpers/server.js";

let s: DevServer;
beforeEach(async () => {
  s = await devServer();
});
afterEach(async () => {
  await s.close();
});

/** 32 days: what a mount whose own TTLs are 0 gives its leases. */
const SYSTEM_TTL = 2764800;

const ENVELOPE_KEYS = ["request_id", "lease_id", "renewable", "lease_duration", "data", "wrap_info", "warnings", "auth"];

/** Vault's older sys responses: every field of `data` at the top level too, beside the envelope. */
function expectMirrored(json: Record<string, any>) {
  for (const key of ENVELOPE_KEYS) expect(json).toHaveProperty(key);
  expect(json.request_id).toMatch(/^[0-9a-f-]{36}$/);
  for (const [key, value] of Object.entries(json.data as Record<string, unknown>)) expect(json[key]).toEqual(value);
}

async function token(policy: string) {
  await s.request("PUT", "sys/policies/acl/probe", { body: { policy } });
  const created = await s.request("POST", "auth/token/create", { body: { policies: ["probe"] } });
  return created.json.auth as { client_token: string; accessor: string };
}

describe("sys/mounts and sys/auth", () => {
  it("lists every mount at the top level and in data, with the fields of Vault's schema", async () => {
    const res = await s.request("GET", "sys/mounts");
    expect(res.status).toBe(200);
    expectMirrored(res.json);
    expect(Object.keys(res.json.data)).toEqual(["cubbyhole/", "secret/", "sys/"]);
    expect(res.json["cubbyhole/"]).toMatchObject({
      type: "cubbyhole",
      description: "per-token private secret storage",
      local: true,
      options: null,
      accessor: expect.stringMatching(/^cubbyhole_[0-9a-f]{8}$/),
    });
    expect(res.json["secret/"]).toEqual({
      accessor: expect.stringMatching(/^kv_[0-9a-f]{8}$/),
      config: { default_lease_ttl: 0, max_lease_ttl: 0, force_no_cache: false },
      deprecation_status: "supported",
      description: "key/value secret storage",
      external_entropy_access: false,
      local: false,
      options: { version: "2" },
      plugin_version: "",
      running_plugin_version: `v${VERSION}+builtin`,
      running_sha256: "",
      seal_wrap: false,
      type: "kv",
      uuid: expect.stringMatching(/^[0-9a-f-]{36}$/),
    });
    expect(res.json["sys/"]).toMatchObject({ type: "system", options: null, local: false });
    // identity/ is not served by latchkey, so it is not listed.
    expect(res.json["identity/"]).toBeUndefined();
  });

  it("keeps the top-level copy out of a wrapped response", async () => {
    const res = await s.request("GET", "sys/mounts", { headers: { "x-vault-wrap-ttl": "60s" } });
    expect(res.status).toBe(200);
    expect(res.json.wrap_info.token).toEqual(expect.any(String));
    expect(res.json.data).toBeNull();
    expect(res.json["secret/"]).toBeUndefined();
  });

  it("reads one mount, mirrored", async () => {
    const res = await s.request("GET", "sys/mounts/secret");
    expect(res.status).toBe(200);
    expectMirrored(res.json);
    expect(res.json).toMatchObject({ type: "kv", options: { version: "2" }, description: "key/value secret storage" });
  });

  it("lists auth methods with their token type", async () => {
    const res = await s.request("GET", "sys/auth");
    expectMirrored(res.json);
    expect(res.json["token/"]).toMatchObject({
      type: "token",
      accessor: expect.stringMatching(/^auth_token_[0-9a-f]{8}$/),
      options: null,
      config: { default_lease_ttl: 0, max_lease_ttl: 0, force_no_cache: false, token_type: "default-service" },
      running_plugin_version: `v${VERSION}+builtin`,
    });
  });

  it("shows the effective TTLs on tune, the system's where the mount's own is 0", async () => {
    const tune = await s.request("GET", "sys/mounts/secret/tune");
    expect(tune.status).toBe(200);
    expectMirrored(tune.json);
    expect(tune.json.data).toEqual({
      default_lease_ttl: SYSTEM_TTL,
      max_lease_ttl: SYSTEM_TTL,
      force_no_cache: false,
      description: "key/value secret storage",
      options: { version: "2" },
    });
    const auth = await s.request("GET", "sys/auth/token/tune");
    expectMirrored(auth.json);
    expect(auth.json.data).toEqual({
      default_lease_ttl: SYSTEM_TTL,
      max_lease_ttl: SYSTEM_TTL,
      force_no_cache: false,
      description: "token based credentials",
      token_type: "default-service",
    });
  });

  it("tunes TTLs, description, listing visibility and options, and keeps them", async () => {
    const tuned = await s.request("POST", "sys/mounts/secret/tune", {
      body: { default_lease_ttl: "1h", description: "team secrets", listing_visibility: "unauth", options: { extra: "x" } },
    });
    expect(tuned.status).toBe(204);
    const tune = (await s.request("GET", "sys/mounts/secret/tune")).json.data;
    expect(tune).toEqual({
      default_lease_ttl: 3600,
      max_lease_ttl: SYSTEM_TTL,
      force_no_cache: false,
      description: "team secrets",
      options: { version: "2", extra: "x" },
      listing_visibility: "unauth",
    });
    const listed = (await s.request("GET", "sys/mounts")).json["secret/"];
    expect(listed.config).toEqual({ default_lease_ttl: 3600, max_lease_ttl: 0, force_no_cache: false, listing_visibility: "unauth" });
    expect(listed.description).toBe("team secrets");

    await s.request("POST", "sys/mounts/secret/tune", { body: { listing_visibility: "", default_lease_ttl: "system" } });
    const reset = (await s.request("GET", "sys/mounts/secret")).json.config;
    expect(reset).toEqual({ default_lease_ttl: 0, max_lease_ttl: 0, force_no_cache: false });
  });

  it("keeps the default TTL within a lower max", async () => {
    await s.request("POST", "sys/mounts/secret/tune", { body: { max_lease_ttl: "2h" } });
    const tune = (await s.request("GET", "sys/mounts/secret/tune")).json.data;
    expect(tune).toMatchObject({ default_lease_ttl: 7200, max_lease_ttl: 7200 });
  });

  it("refuses an unknown listing_visibility and a kv version other than 2", async () => {
    const bad = await s.request("POST", "sys/mounts/secret/tune", { body: { listing_visibility: "public" } });
    expect(bad.status).toBe(400);
    expect(bad.json.errors).toEqual(['invalid listing_visibility "public": must be "unauth", "hidden" or ""']);
    const v1 = await s.request("POST", "sys/mounts/secret/tune", { body: { options: { version: "1" } } });
    expect(v1.status).toBe(400);
    expect((await s.request("GET", "sys/mounts/secret/tune")).json.data.options).toEqual({ version: "2" });
  });

  it("refuses to unmount sys/ or cubbyhole/, or to mount a singleton type", async () => {
    for (const path of ["sys", "cubbyhole"]) {
      const res = await s.request("DELETE", `sys/mounts/${path}`);
      expect(res).toMatchObject({ status: 400, json: { errors: [`cannot unmount "${path}/"`] } });
    }
    const cubby = await s.request("POST", "sys/mounts/mine", { body: { type: "cubbyhole" } });
    expect(cubby.status).toBe(400);
    expect(cubby.json.errors).toEqual(['mount type of "cubbyhole" is not mountable']);
  });
});

describe("sys/remount", () => {
  it("moves a secrets engine with its data, and reports the migration", async () => {
    await s.request("POST", "sys/mounts/team", { body: { type: "kv-v2" } });
    await s.request("POST", "team/data/app", { body: { data: { password: "p1" } } });
    await s.request("POST", "sys/mounts/team/tune", { body: { default_lease_ttl: "1h" } });
    const before = (await s.request("GET", "sys/mounts/team")).json.data;

    const moved = await s.request("POST", "sys/remount", { body: { from: "team", to: "team-b" } });
    expect(moved.status).toBe(200);
    expectMirrored(moved.json);
    const id = moved.json.migration_id as string;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);

    expect((await s.request("GET", "team-b/data/app")).json.data.data).toEqual({ password: "p1" });
    expect((await s.request("GET", "team/data/app")).status).toBe(404);
    const mounts = (await s.request("GET", "sys/mounts")).json.data;
    expect(mounts["team/"]).toBeUndefined();
    expect(mounts["team-b/"]).toEqual(before);

    const status = await s.request("GET", `sys/remount/status/${id}`);
    expect(status.status).toBe(200);
    expect(status.json.data).toEqual({
      migration_id: id,
      migration_info: { source_mount: "team/", target_mount: "team-b/", status: "success" },
    });
    expect((await s.request("GET", "sys/remount/status/00000000-0000-0000-0000-000000000000")).status).toBe(404);
  });

  it("moves an auth method with its roles and revokes the tokens it issued", async () => {
    const keys = await clusterKeys();
    await kubernetesMount(keys);
    const issued = (await login(keys, "kubernetes")).json.auth.client_token as string;
    expect((await s.request("GET", "auth/token/lookup-self", { token: issued })).status).toBe(200);

    const moved = await s.request("POST", "sys/remount", { body: { from: "auth/kubernetes", to: "auth/k8s" } });
    expect(moved.status).toBe(200);
    expect((await s.request("GET", "auth/token/lookup-self", { token: issued })).status).toBe(403);
    expect((await s.request("GET", "auth/k8s/role/app")).status).toBe(200);
    const again = await login(keys, "k8s");
    expect(again.status).toBe(200);
    const auth = (await s.request("GET", "sys/auth")).json.data;
    expect(Object.keys(auth).sort()).toEqual(["k8s/", "token/"]);
  });

  it("refuses what Vault refuses", async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ from: "auth/token", to: "auth/other" }, "the token auth method cannot be moved"],
      [{ from: "secret", to: "auth/secret" }, "cannot remount a secrets engine to an auth path"],
      [{ from: "secret", to: "sys/secret" }, 'cannot mount at reserved path "sys/secret/"'],
      [{ from: "secret", to: "secret/inner" }, "path is already in use at secret/"],
      [{ from: "nowhere", to: "elsewhere" }, 'no secrets engine mounted at "nowhere/"'],
      [{ from: "secret" }, 'missing required field "to"'],
    ];
    for (const [body, message] of cases) {
      const res = await s.request("POST", "sys/remount", { body });
      expect({ body, status: res.status, errors: res.json.errors }).toEqual({ body, status: 400, errors: [message] });
    }
  });

  it("needs sudo", async () => {
    const { client_token } = await token('path "sys/remount" { capabilities = ["update"] }');
    const res = await s.request("POST", "sys/remount", { token: client_token, body: { from: "secret", to: "moved" } });
    expect(res.status).toBe(403);
  });
});

describe("sys/policy, sys/capabilities, sys/audit, sys/key-status", () => {
  it("mirrors the older policy API", async () => {
    const list = await s.request("GET", "sys/policy");
    expectMirrored(list.json);
    expect(list.json.policies).toEqual(expect.arrayContaining(["default", "root"]));
    expect(list.json.keys).toEqual(list.json.policies);
    const one = await s.request("GET", "sys/policy/default");
    expectMirrored(one.json);
    expect(one.json.name).toBe("default");
    expect(one.json.rules).toContain("auth/token/lookup-self");
  });

  it("answers capabilities-self per path and, for one path, as `capabilities`", async () => {
    const { client_token } = await token('path "secret/data/app/*" { capabilities = ["read", "list"] }');
    const one = await s.request("POST", "sys/capabilities-self", { token: client_token, body: { paths: ["secret/data/app/x"] } });
    expect(one.status).toBe(200);
    expectMirrored(one.json);
    expect(one.json.capabilities).toEqual(["list", "read"]);
    expect(one.json["secret/data/app/x"]).toEqual(["list", "read"]);
    const two = await s.request("POST", "sys/capabilities-self", {
      token: client_token,
      body: { path: "secret/data/app/x,secret/data/other" },
    });
    expect(two.json.data).toEqual({ "secret/data/app/x": ["list", "read"], "secret/data/other": ["deny"] });
    expect(two.json["secret/data/other"]).toEqual(["deny"]);
  });

  it("keeps the envelope's own fields when a path has one of their names", async () => {
    const res = await s.request("POST", "sys/capabilities-self", { body: { paths: ["auth", "__proto__"] } });
    expect(res.json.data).toEqual({ auth: ["root"], ["__proto__"]: ["root"] });
    expect(res.json.auth).toBeNull();
    expect(Object.getOwnPropertyNames(res.json)).toContain("__proto__");
  });

  it("answers sys/capabilities-accessor for a token's accessor, to a sudo caller only", async () => {
    const probe = await token('path "secret/data/x" { capabilities = ["create"] }');
    const res = await s.request("POST", "sys/capabilities-accessor", { body: { accessor: probe.accessor, paths: "secret/data/x" } });
    expect(res.status).toBe(200);
    expectMirrored(res.json);
    expect(res.json.capabilities).toEqual(["create"]);
    const unknown = await s.request("POST", "sys/capabilities-accessor", { body: { accessor: "nope", paths: "x" } });
    expect(unknown).toMatchObject({ status: 400, json: { errors: ["invalid accessor"] } });
    const denied = await s.request("POST", "sys/capabilities-accessor", {
      token: probe.client_token,
      body: { accessor: probe.accessor, paths: "x" },
    });
    expect(denied.status).toBe(403);
  });

  it("mirrors sys/audit and sys/audit-hash, and audits the data of mirrored responses", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "latchkey-audit-")), "audit.log");
    await s.request("PUT", "sys/audit/file", { body: { type: "file", options: { file_path: file } } });
    const audit = await s.request("GET", "sys/audit");
    expectMirrored(audit.json);
    expect(audit.json["file/"]).toMatchObject({ type: "file", path: "file/" });
    const hash = await s.request("PUT", "sys/audit-hash/file", { body: { input: "x" } });
    expectMirrored(hash.json);
    expect(hash.json.hash).toMatch(/^hmac-sha256:/);

    await s.request("GET", "sys/mounts");
    const lines = readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l));
    const response = lines.find((l) => l.type === "response" && l.request.path === "sys/mounts");
    expect(Object.keys(response.response.data)).toEqual(["cubbyhole/", "secret/", "sys/"]);
  });

  it("mirrors sys/key-status", async () => {
    const res = await s.request("GET", "sys/key-status");
    expectMirrored(res.json);
    expect(res.json.term).toBe(1);
    expect(Date.parse(res.json.install_time)).not.toBeNaN();
  });
});

describe("leases, the older paths", () => {
  it("answers 204 for revoking a lease it does not know", async () => {
    for (const path of ["sys/leases/revoke", "sys/revoke"]) {
      expect((await s.request("PUT", path, { body: { lease_id: "secret/nope/abc" } })).status).toBe(204);
    }
    expect((await s.request("PUT", "sys/revoke/secret/nope/abc")).status).toBe(204);
  });

  it("revokes by prefix through sys/revoke-prefix", async () => {
    const t = (await s.request("POST", "auth/token/create", { body: { policies: ["default"], ttl: "1h" } })).json.auth;
    expect((await s.request("PUT", "sys/revoke-prefix/auth/token/create")).status).toBe(204);
    expect((await s.request("GET", "auth/token/lookup-self", { token: t.client_token })).status).toBe(403);
  });
});

describe("sys/metrics", () => {
  it("answers Vault's JSON by default", async () => {
    await s.request("GET", "sys/health", { token: null });
    const res = await s.request("GET", "sys/metrics");
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toMatch(/^application\/json/);
    expect(Object.keys(res.json)).toEqual(["Timestamp", "Gauges", "Points", "Counters", "Samples"]);
    expect(res.json.Timestamp).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000 UTC$/);
    const sample = res.json.Samples.find(
      (m: Record<string, any>) => m.Name === "latchkey_request_duration_seconds" && m.Labels.mount_type === "system",
    );
    expect(sample).toMatchObject({ Count: expect.any(Number), Sum: expect.any(Number), Mean: expect.any(Number) });
    expect(sample.Count).toBeGreaterThanOrEqual(1);
    expect(res.json.Gauges.some((g: Record<string, any>) => g.Name.startsWith("latchkey_") && typeof g.Value === "number")).toBe(true);
    expect(res.json.Counters.some((c: Record<string, any>) => c.Name === "latchkey_leases_revoked_total")).toBe(true);
  });

  it("answers the Prometheus text exposition with format=prometheus, and refuses other formats", async () => {
    const res = await s.request("GET", "sys/metrics?format=prometheus");
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toMatch(/^text\/plain/);
    expect(res.text).toContain("# TYPE latchkey_request_duration_seconds histogram");
    const bad = await s.request("GET", "sys/metrics?format=xml");
    expect(bad.status).toBe(400);
    expect(bad.json.errors).toEqual(['metric response format "xml" unknown: use "prometheus" or none']);
  });
});

/** A Kubernetes auth mount at auth/kubernetes/ that verifies JWTs with `keys` locally, and a role named `app`. */
async function kubernetesMount(keys: ClusterKeys) {
  expect((await s.request("POST", "sys/auth/kubernetes", { body: { type: "kubernetes" } })).status).toBe(204);
  const config = await s.request("POST", "auth/kubernetes/config", { body: { validation: "jwks", pem_keys: [keys.publicKeyPem] } });
  expect(config.status).toBe(204);
  const role = await s.request("POST", "auth/kubernetes/role/app", {
    body: { bound_service_account_names: ["myapp"], bound_service_account_namespaces: ["default"], token_policies: ["default"] },
  });
  expect(role.status).toBe(204);
}

async function login(keys: ClusterKeys, path: string) {
  const now = Math.floor(Date.now() / 1000);
  const jwt = await projectedToken(keys, { exp: now - T0 + 3600, iat: now - T0 });
  return s.request("POST", `auth/${path}/login`, { token: null, body: { role: "app", jwt } });
}
