import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { beforeEach, describe, expect, it } from "vitest";
import { devServerForSuite } from "./dev-server.js";

const ROOT = "lks.hvac-root";
const SCRIPT = fileURLToPath(new URL("./hvac_client.py", import.meta.url));
// Debian's python3-hvac lives in /usr/lib/python3/dist-packages, which only
// Debian's own interpreter reads; a python3 earlier on PATH (pyenv, a venv) does not see it.
const PYTHON = process.env.LATCHKEY_COMPAT_PYTHON ?? (existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3");

/** One step of hvac_client.py: what hvac returned, or the exception it raised. */
interface StepResult {
  // The JSON a Vault endpoint answered; each test reads the fields it checks.
  ok?: any;
  error?: { type: string; errors?: string[] | null; message: string };
}

async function runHvac(address: string): Promise<Record<string, StepResult>> {
  try {
    const { stdout } = await promisify(execFile)(PYTHON, [SCRIPT], {
      env: { ...process.env, LATCHKEY_ADDR: address, LATCHKEY_TOKEN: ROOT },
      timeout: 60_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    return JSON.parse(stdout);
  } catch (err) {
    const { code, stdout, stderr } = err as { code?: number | string; stdout?: string; stderr?: string };
    if (code === 3 || code === "ENOENT") {
      throw new Error(
        `hvac is not importable by ${PYTHON} (${stdout?.trim() || String(err)}): ` +
          "install Debian's python3-hvac (`apt-get install python3-hvac`; `npm test` does this through scripts/test.sh)",
        { cause: err },
      );
    }
    throw new Error(`hvac_client.py failed (${code}):\n${stderr}\n${stdout}`, { cause: err });
  }
}

describe("hvac (Debian's python3-hvac) against latchkey", () => {
  const suite = devServerForSuite(ROOT, (server) => runHvac(server.address));
  let r: Record<string, StepResult>;
  beforeEach(() => {
    r = suite.prepared();
  });

  it("authenticates with the root token", () => {
    expect(r.is_authenticated).toEqual({ ok: true });
  });

  it("mounts `kv` as KV version 1, with hvac's null fields, and lists it where Vault puts mounts", () => {
    expect(r.enable_kv1).toEqual({ ok: { status: 204, body: "" } });
    const { top, data } = r.list_mounted_secrets_engines.ok;
    for (const mounts of [top, data]) {
      expect(mounts).toMatchObject({
        "cubbyhole/": { type: "cubbyhole", options: null },
        "kv1/": { type: "kv", options: { version: "1" } },
        "secret/": { type: "kv", options: { version: "2" } },
        "sys/": { type: "system", options: null },
      });
    }
  });

  // latchkey has no identity store, so unlike a Vault dev server it lists no identity/ mount.
  it("lists the mounts a Vault dev server has, but identity/", () => {
    const expected = ["cubbyhole/", "kv1/", "secret/", "sys/"];
    expect(Object.keys(r.list_mounted_secrets_engines.ok.data).sort()).toEqual(expected);
    expect(Object.keys(r.list_mounted_secrets_engines.ok.top).sort()).toEqual(expected);
    expect(r.list_mounted_secrets_engines.ok.data["cubbyhole/"]).toMatchObject({ type: "cubbyhole" });
  });

  it("writes, reads, lists (LIST) and deletes a KV version 1 secret", () => {
    expect(r.kv1_create).toEqual({ ok: { status: 204, body: "" } });
    expect(r.kv1_read.ok).toMatchObject({ data: { user: "svc", password: "pw-1" }, lease_id: "", renewable: false });
    expect(r.kv1_list.ok.data).toEqual({ keys: ["app"] });
    expect(r.kv1_delete).toEqual({ ok: { status: 204, body: "" } });
    expect(r.kv1_read_deleted.error).toMatchObject({ type: "InvalidPath", errors: [] });
  });

  it("writes versions with check-and-set, reads them, lists (LIST) and deletes a KV version 2 secret", () => {
    expect(r.kv2_create_v1.ok.data).toMatchObject({ version: 1, destroyed: false, deletion_time: "" });
    expect(r.kv2_create_v2.ok.data).toMatchObject({ version: 2 });
    expect(r.kv2_create_cas_mismatch.error).toEqual({
      type: "InvalidRequest",
      errors: ["check-and-set parameter did not match the current version"],
      message: "check-and-set parameter did not match the current version",
    });
    expect(r.kv2_read_latest.ok.data).toMatchObject({ data: { user: "svc", password: "pw-2" }, metadata: { version: 2 } });
    expect(r.kv2_read_version_1.ok.data).toMatchObject({ data: { user: "svc", password: "pw-1" }, metadata: { version: 1 } });
    expect(r.kv2_list.ok.data).toEqual({ keys: ["app"] });
    expect(r.kv2_read_metadata.ok.data).toMatchObject({ current_version: 2, versions: { "1": {}, "2": {} } });
    expect(r.kv2_delete_metadata_and_all_versions).toEqual({ ok: { status: 204, body: "" } });
    expect(r.kv2_read_deleted.error).toMatchObject({ type: "InvalidPath", errors: [] });
  });

  it("creates a token, looks it up, renews it and revokes it", () => {
    const auth = r.token_create.ok.auth;
    expect(auth).toMatchObject({ policies: ["default"], metadata: { team: "a" }, lease_duration: 3600, renewable: true });
    expect(r.token_lookup_self.ok.data).toMatchObject({
      id: auth.client_token,
      accessor: auth.accessor,
      policies: ["default"],
      meta: { team: "a" },
      display_name: "token-compat",
      path: "auth/token/create",
    });
    expect(r.token_renew_self.ok.auth).toMatchObject({ client_token: auth.client_token, lease_duration: 7200 });
    expect(r.token_revoke_self).toEqual({ ok: { status: 204, body: "" } });
    expect(r.token_lookup_self_revoked.error).toEqual({
      type: "Forbidden",
      errors: ["permission denied: invalid token"],
      message: "permission denied: invalid token",
    });
  });

  it("creates, reads, lists and deletes a policy", () => {
    expect(r.policy_create).toEqual({ ok: { status: 204, body: "" } });
    const rules = 'path "secret/data/team/*" {\n  capabilities = ["read", "list"]\n}\n';
    expect(r.policy_read.ok).toMatchObject({ name: "compat-reader", rules, data: { name: "compat-reader", rules } });
    expect(r.policy_list.ok.data.policies).toEqual(["compat-reader", "default", "root"]);
    expect(r.policy_list.ok.policies).toEqual(["compat-reader", "default", "root"]);
    expect(r.policy_delete).toEqual({ ok: { status: 204, body: "" } });
    expect(r.policy_list_after_delete.ok.data.policies).toEqual(["default", "root"]);
  });

  it("reads health with GET and HEAD, honours activecode, and reads the seal status", () => {
    expect(r.health_get.ok).toMatchObject({ initialized: true, sealed: false, standby: false, version: expect.any(String) });
    expect(r.health_head).toEqual({ ok: { status: 200, body: "" } });
    expect(r.health_get_activecode.ok.status).toBe(299);
    expect(JSON.parse(r.health_get_activecode.ok.body)).toMatchObject({ initialized: true, sealed: false });
    expect(r.seal_status.ok).toMatchObject({
      type: "shamir",
      initialized: true,
      sealed: false,
      t: 1,
      n: 1,
      progress: 0,
      version: expect.any(String),
      build_date: expect.any(String),
      cluster_name: expect.any(String),
      cluster_id: expect.any(String),
    });
    expect(r.is_sealed).toEqual({ ok: false });
  });

  it("wraps a created token and a KV read, looks the wrapping token up and unwraps it once", () => {
    const wrapped = r.wrap_token_create.ok;
    expect(wrapped.auth).toBeNull();
    expect(wrapped.wrap_info).toMatchObject({
      token: expect.any(String),
      accessor: expect.any(String),
      ttl: 300,
      creation_time: expect.any(String),
      creation_path: "auth/token/create",
      wrapped_accessor: expect.any(String),
    });
    expect(r.wrap_lookup.ok.data).toMatchObject({ creation_path: "auth/token/create", creation_ttl: 300 });
    expect(r.unwrap.ok.auth).toMatchObject({ accessor: wrapped.wrap_info.wrapped_accessor, policies: ["default"] });
    expect(r.unwrap_again.error).toMatchObject({ type: "InvalidRequest", errors: [expect.any(String)] });

    expect(r.wrap_kv2_read.ok).toMatchObject({ data: null, wrap_info: { ttl: 60, creation_path: "secret/data/wrapped/app" } });
    expect(r.unwrap_as_client_token.ok.data).toMatchObject({ data: { k: "v" }, metadata: { version: 1 } });
  });

  it("lists, looks up and revokes token leases; renewing a token lease is refused as Vault refuses it", () => {
    const keys: string[] = r.lease_list.ok.data.keys;
    expect(keys.length).toBeGreaterThanOrEqual(1);
    for (const lookup of r.lease_read.ok) {
      expect(lookup.data).toMatchObject({ id: expect.stringMatching(/^auth\/token\/create\//), renewable: true, last_renewal: null });
      // Vault's lease lookup reports whole seconds (an int64), at most the token's 1h TTL.
      expect.soft(lookup.data.ttl).toBe(Math.trunc(lookup.data.ttl));
      expect.soft(lookup.data.ttl).toBeLessThanOrEqual(3600);
    }
    expect(r.lease_renew_token_lease.error).toMatchObject({
      type: "InvalidRequest",
      errors: ["tokens cannot be renewed through this endpoint"],
    });
    expect(r.lease_revoke.ok).toEqual(keys.map(() => ({ status: 204, body: "" })));
    expect(r.lease_revoked_token_lookup.error).toMatchObject({ type: "Forbidden" });
    expect(r.lease_revoke_unknown).toEqual({ ok: { status: 204, body: "" } });
  });

  it("reads Vault's error envelope (hvac parses errors only from Content-Type: application/json)", () => {
    expect(r.denied.error).toEqual({
      type: "Forbidden",
      errors: ["permission denied: invalid token"],
      message: "permission denied: invalid token",
    });
  });
});
