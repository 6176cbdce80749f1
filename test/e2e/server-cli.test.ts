import { mkdtempSync, readFileSync, writeFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, freshHome, runCli, startServerProcess, type ServerProcess } from "../helpers/process.js";

const ROOT = "lks.e2e-root-token";

describe("dev server driven by the CLI and by HTTP", () => {
  let server: ServerProcess;
  let env: Record<string, string>;

  beforeAll(async () => {
    server = await startServerProcess(["--dev", "--dev-root-token", ROOT, "--listen", "127.0.0.1:0"]);
    env = { LATCHKEY_ADDR: server.address, LATCHKEY_TOKEN: ROOT, HOME: freshHome() };
  });
  afterAll(async () => {
    expect(await server.stop("SIGTERM")).toBe(0);
  });

  it("prints how to reach it, and the root token only in the banner, never in logs", () => {
    expect(server.output()).toContain(`Address:  ${server.address}`);
    expect(server.output()).toContain(`Root Token: ${ROOT}`);
    const logLines = server.output().split("\n").filter((l) => l.startsWith("{"));
    expect(logLines.length).toBeGreaterThan(0);
    for (const l of logLines) expect(l).not.toContain(ROOT);
  });

  it("status reports unsealed", () => {
    const res = runCli(["status"], env);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/Sealed\s+false/);
  });

  it("kv put / get / metadata / delete", () => {
    expect(runCli(["kv", "put", "secret/app/db", "user=admin", "password=s3cr3t"], env).code).toBe(0);
    const got = runCli(["kv", "get", "-format=json", "secret/app/db"], env);
    expect(got.code).toBe(0);
    expect(JSON.parse(got.stdout).data.data).toEqual({ user: "admin", password: "s3cr3t" });
    expect(runCli(["kv", "get", "-field=password", "secret/app/db"], env).stdout.trim()).toBe("s3cr3t");
    expect(runCli(["kv", "put", "secret/app/db", "password=rotated"], env).code).toBe(0);
    const meta = runCli(["kv", "metadata", "get", "-format=json", "secret/app/db"], env);
    expect(JSON.parse(meta.stdout).data.current_version).toBe(2);
    expect(runCli(["kv", "delete", "secret/app/db"], env).code).toBe(0);
    expect(runCli(["kv", "get", "secret/app/db"], env).code).not.toBe(0);
  });

  it("generic write/read/list/delete with @file and stdin values", () => {
    const dir = mkdtempSync(join(tmpdir(), "latchkey-e2e-"));
    const file = join(dir, "cert.pem");
    writeFileSync(file, "-----BEGIN CERTIFICATE-----\nabc\n-----END CERTIFICATE-----\n");
    expect(runCli(["write", "secret/data/files/a", "-"], env, JSON.stringify({ data: { f: "from-stdin" } })).code).toBe(0);
    expect(runCli(["kv", "put", "secret/files/c", "note=-"], env, "value from stdin").code).toBe(0);
    expect(runCli(["kv", "get", "-field=note", "secret/files/c"], env).stdout.trim()).toBe("value from stdin");
    const read = runCli(["read", "-format=json", "secret/data/files/a"], env);
    expect(JSON.parse(read.stdout).data.data).toEqual({ f: "from-stdin" });
    expect(runCli(["kv", "put", "secret/files/b", `cert=@${file}`], env).code).toBe(0);
    expect(runCli(["kv", "get", "-field=cert", "secret/files/b"], env).stdout).toContain("BEGIN CERTIFICATE");
    const list = runCli(["list", "-format=json", "secret/metadata/files"], env);
    expect(JSON.parse(list.stdout)).toEqual(expect.arrayContaining(["a", "b"]));
    expect(runCli(["delete", "secret/metadata/files/a"], env).code).toBe(0);
  });

  it("policies, tokens and login", () => {
    const dir = mkdtempSync(join(tmpdir(), "latchkey-e2e-"));
    const policyFile = join(dir, "reader.hcl");
    writeFileSync(policyFile, 'path "secret/data/shared/*" { capabilities = ["read"] }\n');
    expect(runCli(["policy", "write", "reader", policyFile], env).code).toBe(0);
    expect(runCli(["policy", "list"], env).stdout).toContain("reader");
    expect(runCli(["kv", "put", "secret/shared/x", "v=1"], env).code).toBe(0);
    const created = runCli(["token", "create", "-policy=reader", "-ttl=1h", "-format=json"], env);
    expect(created.code).toBe(0);
    const token = JSON.parse(created.stdout).auth.client_token as string;
    expect(token).toMatch(/^lks\./);

    const home = freshHome();
    const login = runCli(["login", token], { LATCHKEY_ADDR: server.address, HOME: home });
    expect(login.code).toBe(0);
    expect(statSync(join(home, ".latchkey-token")).mode & 0o777).toBe(0o600);
    const asReader = { LATCHKEY_ADDR: server.address, HOME: home };
    expect(runCli(["kv", "get", "-field=v", "secret/shared/x"], asReader).stdout.trim()).toBe("1");
    const denied = runCli(["kv", "put", "secret/shared/x", "v=2"], asReader);
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toContain("permission denied");
    expect(denied.stderr).not.toContain(token);

    const lookup = runCli(["token", "lookup", "-format=json", token], env);
    expect(JSON.parse(lookup.stdout).data.policies).toEqual(["default", "reader"]);
    expect(runCli(["token", "revoke", token], env).code).toBe(0);
    expect(runCli(["kv", "get", "secret/shared/x"], asReader).code).not.toBe(0);
  });

  it("secrets and auth enable/list/disable", () => {
    expect(runCli(["secrets", "enable", "-path=team", "-version=2", "kv"], env).code).toBe(0);
    expect(runCli(["secrets", "list"], env).stdout).toContain("team/");
    expect(runCli(["secrets", "disable", "team"], env).code).toBe(0);
    expect(runCli(["auth", "list"], env).stdout).toContain("token/");
  });

  it("prints the server's error and exits non-zero", () => {
    const res = runCli(["read", "nosuchmount/x"], env);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain("no handler for route");
  });

  it("answers curl-style HTTP calls with Vault's shapes", async () => {
    const w = await api(server.address, "POST", "secret/data/curl", ROOT, { data: { a: "b" } });
    expect(w.status).toBe(200);
    expect(w.json.data.version).toBe(1);
    const r = await api(server.address, "GET", "secret/data/curl", ROOT);
    expect(r.json.data.data).toEqual({ a: "b" });
    const bad = await fetch(`${server.address}/v1/secret/data/curl`, {
      method: "POST",
      headers: { "x-vault-token": ROOT, "content-type": "application/json" },
      body: "{not json",
    });
    expect(bad.status).toBe(400);
  });
});

describe("a configured server with Shamir seal on SQLite", () => {
  it("is initialised and unsealed through the CLI, and keeps data across a restart", async () => {
    const dir = mkdtempSync(join(tmpdir(), "latchkey-e2e-"));
    const config = join(dir, "latchkey.yaml");
    writeFileSync(
      config,
      `listener: {address: "127.0.0.1:0"}\nstorage: {sqlite: {path: ${join(dir, "data", "latchkey.db")}}}\nseal: {shamir: {}}\nlog_level: warn\n`,
    );
    let server = await startServerProcess(["--config", config]);
    const env = { LATCHKEY_ADDR: server.address, HOME: freshHome() };
    expect(runCli(["status"], env).code).toBe(2);
    const init = runCli(["operator", "init", "-key-shares=3", "-key-threshold=2", "-format=json"], env);
    expect(init.code).toBe(0);
    const { unseal_keys_b64: keys, root_token: root } = JSON.parse(init.stdout) as { unseal_keys_b64: string[]; root_token: string };
    expect(keys).toHaveLength(3);
    for (const key of keys.slice(0, 2)) expect(runCli(["operator", "unseal", key], env).code).toBe(0);
    const authed = { ...env, LATCHKEY_TOKEN: root };
    expect(runCli(["secrets", "enable", "-path=secret", "-version=2", "kv"], authed).code).toBe(0);
    expect(runCli(["kv", "put", "secret/persist", "k=v"], authed).code).toBe(0);
    expect(await server.stop("SIGTERM")).toBe(0);

    server = await startServerProcess(["--config", config]);
    const env2 = { LATCHKEY_ADDR: server.address, LATCHKEY_TOKEN: root, HOME: freshHome() };
    expect(runCli(["kv", "get", "secret/persist"], env2).stderr).toContain("sealed");
    for (const key of [keys[2], keys[0]]) expect(runCli(["operator", "unseal", key], env2).code).toBe(0);
    expect(runCli(["kv", "get", "-field=k", "secret/persist"], env2).stdout.trim()).toBe("v");
    expect(runCli(["operator", "seal"], env2).code).toBe(0);
    expect(runCli(["status"], env2).code).toBe(2);
    expect(await server.stop("SIGTERM")).toBe(0);
    expect(readFileSync(join(dir, "data", "latchkey.db")).length).toBeGreaterThan(0);
    // Eleven CLI processes and two servers, each a Node.js start: slow on a loaded machine.
  }, 120_000);
});
