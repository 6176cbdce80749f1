import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { devServer, type DevServer } from "../helpers/server.js";

let s: DevServer;
beforeEach(async () => {
  s = await devServer();
});
afterEach(async () => {
  await s.close();
});

async function policy(name: string, hcl: string) {
  expect((await s.request("PUT", `sys/policies/acl/${name}`, { body: { policy: hcl } })).status).toBe(204);
}

/** A token (made by root) with these policies. */
async function tokenWith(policies: string[], body: Record<string, unknown> = {}): Promise<string> {
  const res = await s.request("POST", "auth/token/create", { body: { policies, ...body } });
  expect(res.status).toBe(200);
  return res.json.auth.client_token as string;
}

const lookup = async (token: string) => (await s.request("POST", "auth/token/lookup", { body: { token } })).json.data;

describe("auth/token/create by callers with and without sudo on it", () => {
  beforeEach(async () => {
    await policy("creator", 'path "auth/token/create" { capabilities = ["update"] }');
    await policy("sudo-creator", 'path "auth/token/create" { capabilities = ["update", "sudo"] }');
  });

  it("honours no_parent only with sudo, and says so otherwise", async () => {
    const plain = await tokenWith(["creator"]);
    const refused = await s.request("POST", "auth/token/create", { token: plain, body: { no_parent: true } });
    expect(refused.status).toBe(400);
    expect(refused.json.errors).toEqual(["root or sudo privileges required to create orphan token"]);

    const sudo = await tokenWith(["sudo-creator"]);
    const orphan = await s.request("POST", "auth/token/create", { token: sudo, body: { no_parent: true } });
    expect(orphan.status).toBe(200);
    expect(orphan.json.auth.orphan).toBe(true);
    // Revoking the creator leaves the orphan alive.
    expect((await s.request("POST", "auth/token/revoke", { body: { token: sudo } })).status).toBe(204);
    expect((await s.request("GET", "auth/token/lookup-self", { token: orphan.json.auth.client_token })).status).toBe(200);

    const byRoot = await s.request("POST", "auth/token/create", { body: { policies: ["default"], no_parent: true } });
    expect(byRoot.json.auth.orphan).toBe(true);
  });

  it("lets a sudo caller set policies outside its own, but never root", async () => {
    const plain = await tokenWith(["creator"]);
    const subset = await s.request("POST", "auth/token/create", { token: plain, body: { policies: ["admin"] } });
    expect(subset.status).toBe(400);
    expect(subset.json.errors).toEqual(["child policies must be subset of parent"]);

    const sudo = await tokenWith(["sudo-creator"]);
    const wide = await s.request("POST", "auth/token/create", { token: sudo, body: { policies: ["admin"] } });
    expect(wide.status).toBe(200);
    expect(wide.json.auth.policies).toEqual(["admin", "default"]);

    const root = await s.request("POST", "auth/token/create", { token: sudo, body: { policies: ["root"] } });
    expect(root.status).toBe(400);
    expect(root.json.errors).toEqual(["root tokens may not be created without parent token being root"]);
  });

  it("judges sudo on the path requested: sudo on auth/token/create does not carry to create-orphan", async () => {
    await policy("orphan-maker", 'path "auth/token/create-orphan" { capabilities = ["update"] }');
    const token = await tokenWith(["sudo-creator", "orphan-maker"]);
    const res = await s.request("POST", "auth/token/create-orphan", { token, body: { policies: ["admin"] } });
    expect(res.status).toBe(400);
    expect(res.json.errors).toEqual(["child policies must be subset of parent"]);
  });
});

describe("auth/token/create-orphan", () => {
  it("makes orphans for any caller allowed on the path, within its policies unless it has sudo there", async () => {
    await policy("orphan-maker", 'path "auth/token/create-orphan" { capabilities = ["update"] }');
    const maker = await tokenWith(["orphan-maker", "web"]);
    const orphan = await s.request("POST", "auth/token/create-orphan", { token: maker, body: { policies: ["web"] } });
    expect(orphan.status).toBe(200);
    expect(orphan.json.auth).toMatchObject({ orphan: true, policies: ["default", "web"] });
    expect(await lookup(orphan.json.auth.client_token)).toMatchObject({ orphan: true, path: "auth/token/create-orphan" });

    const outside = await s.request("POST", "auth/token/create-orphan", { token: maker, body: { policies: ["db"] } });
    expect(outside.status).toBe(400);
    expect(outside.json.errors).toEqual(["child policies must be subset of parent"]);

    await policy("orphan-admin", 'path "auth/token/create-orphan" { capabilities = ["update", "sudo"] }');
    const admin = await tokenWith(["orphan-admin"]);
    const wide = await s.request("POST", "auth/token/create-orphan", { token: admin, body: { policies: ["db"] } });
    expect(wide.status).toBe(200);
    expect(wide.json.auth).toMatchObject({ orphan: true, policies: ["db", "default"] });

    const denied = await s.request("POST", "auth/token/create-orphan", { token: await tokenWith(["web"]), body: {} });
    expect(denied.status).toBe(403);
  });
});

describe("token roles", () => {
  it("are written, read, listed and deleted at auth/token/roles", async () => {
    expect((await s.request("LIST", "auth/token/roles")).status).toBe(404);
    const written = await s.request("POST", "auth/token/roles/ci", {
      body: { allowed_policies: "web,db", orphan: true, path_suffix: "v2", token_period: "1h", token_num_uses: 0 },
    });
    expect(written.status).toBe(204);
    const read = await s.request("GET", "auth/token/roles/ci");
    expect(read.status).toBe(200);
    expect(read.json.data).toEqual({
      allowed_entity_aliases: [],
      allowed_policies: ["db", "web"],
      allowed_policies_glob: [],
      disallowed_policies: [],
      disallowed_policies_glob: [],
      explicit_max_ttl: 0,
      name: "ci",
      orphan: true,
      path_suffix: "v2",
      period: 0,
      renewable: true,
      token_explicit_max_ttl: 0,
      token_no_default_policy: false,
      token_period: 3600,
      token_type: "default-service",
    });
    expect((await s.request("LIST", "auth/token/roles")).json.data.keys).toEqual(["ci"]);
    expect((await s.request("DELETE", "auth/token/roles/ci")).status).toBe(204);
    expect((await s.request("GET", "auth/token/roles/ci")).status).toBe(404);
  });

  it("let a caller with update on create/<role> create tokens with the role's policies, not its own", async () => {
    await policy("ci-user", 'path "auth/token/create/ci" { capabilities = ["update"] }');
    await s.request("POST", "auth/token/roles/ci", { body: { allowed_policies: ["web", "db"] } });
    await s.request("POST", "auth/token/roles/open", { body: { disallowed_policies: ["admin"] } });
    const user = await tokenWith(["ci-user"]);

    const res = await s.request("POST", "auth/token/create/ci", { token: user, body: { policies: ["web"] } });
    expect(res.status).toBe(200);
    expect(res.json.auth).toMatchObject({ policies: ["default", "web"], orphan: false });
    expect(await lookup(res.json.auth.client_token)).toMatchObject({ role: "ci", path: "auth/token/create/ci" });

    const outside = await s.request("POST", "auth/token/create/ci", { token: user, body: { policies: ["ops"] } });
    expect(outside.status).toBe(400);
    expect(outside.json.errors).toEqual([
      'token policies (["default" "ops"]) must be subset of the role\'s allowed policies (["db" "default" "web"]) or glob policies ([])',
    ]);
    // Disallowed policies are refused even to root.
    const disallowed = await s.request("POST", "auth/token/create/open", { body: { policies: ["admin"] } });
    expect(disallowed.status).toBe(400);
    expect(disallowed.json.errors).toEqual(['token policy "admin" is disallowed by this role']);

    expect((await s.request("POST", "auth/token/create/other", { token: user, body: {} })).status).toBe(403);
    const unknown = await s.request("POST", "auth/token/create/nope", { body: {} });
    expect(unknown.status).toBe(400);
    expect(unknown.json.errors).toEqual(["unknown role nope"]);

    // A child of its creator: revoked with it.
    expect((await s.request("POST", "auth/token/revoke", { body: { token: user } })).status).toBe(204);
    expect((await s.request("GET", "auth/token/lookup-self", { token: res.json.auth.client_token })).status).toBe(403);
  });

  it("make orphans for an orphan role, on a path that revoke-prefix by role reaches", async () => {
    await s.request("POST", "auth/token/roles/ci", { body: { allowed_policies: ["web"], orphan: true, path_suffix: "v2" } });
    await s.request("POST", "auth/token/roles/other", { body: { allowed_policies: ["web"] } });
    const creator = await tokenWith(["default"]);
    await policy("ci-user", 'path "auth/token/create/*" { capabilities = ["update"] }');
    const user = await tokenWith(["ci-user"]);

    const ci = (await s.request("POST", "auth/token/create/ci", { token: user, body: { ttl: "1h" } })).json.auth;
    expect(ci.orphan).toBe(true);
    expect(await lookup(ci.client_token)).toMatchObject({ role: "ci", path: "auth/token/create/ci/v2", orphan: true });
    const other = (await s.request("POST", "auth/token/create/other", { body: { ttl: "1h" } })).json.auth;

    const leases = await s.request("LIST", "sys/leases/lookup/auth/token/create/ci/v2");
    expect(leases.json.data.keys).toHaveLength(1);
    expect((await s.request("PUT", "sys/leases/revoke-prefix/auth/token/create/ci")).status).toBe(204);
    expect((await s.request("GET", "auth/token/lookup-self", { token: ci.client_token })).status).toBe(403);
    expect((await s.request("GET", "auth/token/lookup-self", { token: other.client_token })).status).toBe(200);
    expect((await s.request("GET", "auth/token/lookup-self", { token: creator })).status).toBe(200);
  });

  it("give their tokens the role's period and renewability, and stop renewals once the role is gone", async () => {
    await s.request("POST", "auth/token/roles/periodic", { body: { allowed_policies: ["web"], token_period: "2h" } });
    const periodic = (await s.request("POST", "auth/token/create/periodic", { body: {} })).json.auth;
    expect(periodic.lease_duration).toBe(7200);
    expect(await lookup(periodic.client_token)).toMatchObject({ period: 7200, role: "periodic" });
    expect((await s.request("POST", "auth/token/renew-self", { token: periodic.client_token, body: {} })).status).toBe(200);

    expect((await s.request("DELETE", "auth/token/roles/periodic")).status).toBe(204);
    const refused = await s.request("POST", "auth/token/renew-self", { token: periodic.client_token, body: {} });
    expect(refused.status).toBe(400);
    expect(refused.json.errors).toEqual(['original token role "periodic" could not be found, not renewing']);

    await s.request("POST", "auth/token/roles/fixed", { body: { allowed_policies: ["web"], renewable: false } });
    const fixed = (await s.request("POST", "auth/token/create/fixed", { body: { ttl: "1h" } })).json.auth;
    expect(fixed.renewable).toBe(false);
  });

  it("need sudo on their path for a requested period, as create does", async () => {
    await s.request("POST", "auth/token/roles/ci", { body: { allowed_policies: ["web"] } });
    await policy("ci-user", 'path "auth/token/create/ci" { capabilities = ["update"] }');
    await policy("ci-admin", 'path "auth/token/create/ci" { capabilities = ["update", "sudo"] }');
    const user = await tokenWith(["ci-user"]);
    const res = await s.request("POST", "auth/token/create/ci", { token: user, body: { period: "1h" } });
    expect(res.status).toBe(400);
    expect(res.json.errors).toEqual(["root or sudo privileges required to create periodic token"]);
    const admin = await tokenWith(["ci-admin"]);
    const ok = await s.request("POST", "auth/token/create/ci", { token: admin, body: { period: "1h" } });
    expect(ok.status).toBe(200);
    expect(ok.json.auth.lease_duration).toBe(3600);
  });
});
