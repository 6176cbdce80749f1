import { describe, expect, it } from "vitest";
import { must } from "../../core/tokens/test-harness.js";
import { lookupData } from "./backend.js";
import { failure, tokenBackendHarness } from "./test-harness.js";

const HOUR = 3600;

const DEFAULT_ROLE = {
  allowed_entity_aliases: [],
  allowed_policies: [],
  allowed_policies_glob: [],
  disallowed_policies: [],
  disallowed_policies_glob: [],
  explicit_max_ttl: 0,
  name: "ci",
  orphan: false,
  path_suffix: "",
  period: 0,
  renewable: true,
  token_explicit_max_ttl: 0,
  token_no_default_policy: false,
  token_period: 0,
  token_type: "default-service",
};

describe("auth/token/roles", () => {
  it("writes, reads, lists and deletes roles in Vault's shape", async () => {
    const { call } = await tokenBackendHarness();
    expect(await failure(call("roles", "list"))).toEqual({ status: 404, message: "" });
    expect(await call("roles/ci", "create", {})).toBeUndefined();
    expect((await call("roles/ci", "read"))?.data).toEqual(DEFAULT_ROLE);

    const written = await call("roles/ci", "update", {
      allowed_policies: " Web ,db,web",
      disallowed_policies: ["Admin"],
      allowed_policies_glob: ["team-*"],
      disallowed_policies_glob: ["*-prod"],
      orphan: true,
      renewable: false,
      path_suffix: "v2",
      allowed_entity_aliases: ["Ada", "bob-*"],
      token_explicit_max_ttl: "4h",
      token_period: "1h",
      token_type: "service",
      token_bound_cidrs: ["10.0.0.0/8"],
      token_no_default_policy: true,
      token_num_uses: 7,
    });
    expect(written).toBeUndefined();
    expect((await call("roles/ci", "read"))?.data).toEqual({
      ...DEFAULT_ROLE,
      allowed_entity_aliases: ["ada", "bob-*"],
      allowed_policies: ["db", "web"],
      allowed_policies_glob: ["team-*"],
      disallowed_policies: ["admin"],
      disallowed_policies_glob: ["*-prod"],
      orphan: true,
      path_suffix: "v2",
      renewable: false,
      token_explicit_max_ttl: 4 * HOUR,
      token_no_default_policy: true,
      token_period: HOUR,
      token_type: "service",
      token_bound_cidrs: ["10.0.0.0/8"],
      token_num_uses: 7,
    });

    // An update changes only what it names.
    await call("roles/ci", "update", { orphan: false });
    expect((await call("roles/ci", "read"))?.data).toMatchObject({ orphan: false, allowed_policies: ["db", "web"], token_period: HOUR });

    await call("roles/other", "create", {});
    expect((await call("roles", "list"))?.data).toEqual({ keys: ["ci", "other"] });
    expect((await call("roles/", "list"))?.data).toEqual({ keys: ["ci", "other"] });
    expect(await call("roles/ci", "delete")).toBeUndefined();
    expect(await failure(call("roles/ci", "read"))).toEqual({ status: 404, message: "" });
    expect(await call("roles/ci", "delete")).toBeUndefined();
  });

  it("tells create from update by whether the role exists", async () => {
    const { backend, call, storage, root } = await tokenBackendHarness();
    const def = must(backend.paths.find((p) => p.pattern === "roles/:role_name")?.exists);
    const req = {
      operation: "update" as const,
      path: "roles/ci",
      params: { role_name: "ci" },
      data: {},
      auth: root.entry,
      mountPath: "auth/token/",
      connection: { remoteAddress: "127.0.0.1" },
      storage,
      requestId: "r",
    };
    expect(await def(req)).toBe(false);
    await call("roles/ci", "create", {});
    expect(await def(req)).toBe(true);
  });

  it("accepts the deprecated period, explicit_max_ttl and bound_cidrs, and prefers the token_ names", async () => {
    const { call } = await tokenBackendHarness();
    await call("roles/ci", "create", { period: "1h", explicit_max_ttl: "2h", bound_cidrs: "10.0.0.0/8" });
    expect((await call("roles/ci", "read"))?.data).toMatchObject({
      period: HOUR,
      token_period: HOUR,
      explicit_max_ttl: 2 * HOUR,
      token_explicit_max_ttl: 2 * HOUR,
      bound_cidrs: ["10.0.0.0/8"],
      token_bound_cidrs: ["10.0.0.0/8"],
    });
    const both = await call("roles/ci", "update", {
      period: "5h",
      token_period: "3h",
      explicit_max_ttl: "5h",
      token_explicit_max_ttl: "4h",
      bound_cidrs: ["192.168.0.0/16"],
      token_bound_cidrs: ["172.16.0.0/12"],
    });
    expect(both?.warnings).toEqual([
      "Both 'token_period' and deprecated 'period' value supplied, ignoring the deprecated value",
      "Both 'token_bound_cidrs' and deprecated 'bound_cidrs' value supplied, ignoring the deprecated value",
      "Both 'token_explicit_max_ttl' and deprecated 'explicit_max_ttl' value supplied, ignoring the deprecated value",
    ]);
    const data = (await call("roles/ci", "read"))?.data;
    expect(data).toMatchObject({ period: 0, token_period: 3 * HOUR, explicit_max_ttl: 0, token_explicit_max_ttl: 4 * HOUR });
    expect(data?.token_bound_cidrs).toEqual(["172.16.0.0/12"]);
    expect(data).not.toHaveProperty("bound_cidrs");
  });

  it("refuses bad role input with Vault's messages", async () => {
    const { call } = await tokenBackendHarness();
    const cases: Array<[string, Record<string, unknown>, string]> = [
      ["roles/ci", { token_type: "default" }, `invalid 'token_type' value "default"`],
      ["roles/ci", { path_suffix: "a/b" }, "given role path suffix contains invalid characters; must match \\w([\\w-.]*\\w)?"],
      ["roles/ci", { path_suffix: "-v1" }, "given role path suffix contains invalid characters; must match \\w([\\w-.]*\\w)?"],
      ["roles/ci", { path_suffix: "v..1" }, "error registering path suffix: path cannot contain parent references"],
      ["roles/ci", { token_bound_cidrs: ["10.0.0.0/33"] }, 'field "token_bound_cidrs": invalid CIDR "10.0.0.0/33"'],
      ["roles/ci", { token_num_uses: -1 }, 'field "token_num_uses" must be a non-negative integer'],
      ["roles/ci", { token_type: "batch" }, "'token_type' cannot be 'batch' when role is set to generate non-orphan tokens"],
      [
        "roles/ci",
        { token_type: "batch", orphan: true, token_period: "1h" },
        "'token_type' cannot be 'batch' when role is set to generate periodic tokens",
      ],
      [
        "roles/ci",
        { token_type: "batch", orphan: true },
        "'token_type' cannot be 'batch' when role is set to generate renewable tokens",
      ],
      [
        "roles/ci",
        { token_type: "batch", orphan: true, renewable: false, token_explicit_max_ttl: "1h" },
        "'token_type' cannot be 'batch' when role is set to generate tokens with an explicit max TTL",
      ],
      ["roles/-bad-", {}, 'invalid role name "-bad-"'],
    ];
    for (const [path, data, message] of cases) {
      expect(await failure(call(path, "create", data))).toEqual({ status: 400, message });
    }
    expect(await failure(call("roles/ci", "read"))).toEqual({ status: 404, message: "" });
    expect(await call("roles/ci", "create", { token_type: "batch", orphan: true, renewable: false })).toBeUndefined();
  });
});

describe("auth/token/create/<role>", () => {
  it("refuses an unknown role", async () => {
    const { call } = await tokenBackendHarness();
    expect(await failure(call("create/nope", "update", {}))).toEqual({ status: 400, message: "unknown role nope" });
  });

  it("lets a caller without those policies create tokens within allowed_policies", async () => {
    const { call, create } = await tokenBackendHarness();
    await call("roles/ci", "create", { allowed_policies: ["web", "db"] });
    const caller = await create({ policies: ["creator"] });
    const all = await create({}, caller, "create/ci");
    expect(all.entry).toMatchObject({ policies: ["db", "default", "web"], role: "ci", path: "auth/token/create/ci" });
    expect(all.entry.parentKey).toBe(caller.entry.key);
    const some = await create({ policies: ["web"] }, caller, "create/ci");
    expect(some.entry.policies).toEqual(["default", "web"]);
    expect(await failure(call("create/ci", "update", { policies: ["web", "admin"] }, caller))).toEqual({
      status: 400,
      message:
        'token policies (["admin" "default" "web"]) must be subset of the role\'s allowed policies (["db" "default" "web"]) or glob policies ([])',
    });
  });

  it("matches allowed and disallowed globs, and refuses disallowed policies whoever asks", async () => {
    const { call, create } = await tokenBackendHarness();
    await call("roles/teams", "create", {
      allowed_policies_glob: ["team-*"],
      disallowed_policies: ["team-admin"],
      disallowed_policies_glob: ["*-prod"],
    });
    expect((await create({ policies: ["team-a", "team-b"] }, undefined, "create/teams")).entry.policies).toEqual([
      "default",
      "team-a",
      "team-b",
    ]);
    expect(await failure(call("create/teams", "update", { policies: ["team-admin"] }))).toEqual({
      status: 400,
      message: 'token policy "team-admin" is disallowed by this role',
    });
    expect(await failure(call("create/teams", "update", { policies: ["team-prod"] }))).toEqual({
      status: 400,
      message: 'token policy "team-prod" is disallowed by this role',
    });
    expect(await failure(call("create/teams", "update", { policies: ["web"] }))).toEqual({
      status: 400,
      message: 'token policies (["default" "web"]) must be subset of the role\'s allowed policies (["default"]) or glob policies (["team-*"])',
    });
  });

  it("with only disallowed lists, takes requested policies as they are and inherits the caller's otherwise", async () => {
    const { call, create } = await tokenBackendHarness();
    await call("roles/open", "create", { disallowed_policies: ["admin"] });
    const caller = await create({ policies: ["web"], no_default_policy: true });
    expect((await create({}, caller, "create/open")).entry.policies).toEqual(["default", "web"]);
    expect((await create({ policies: ["db"] }, caller, "create/open")).entry.policies).toEqual(["db", "default"]);
    expect(await failure(call("create/open", "update", { policies: ["admin"] }))).toEqual({
      status: 400,
      message: 'token policy "admin" is disallowed by this role',
    });
  });

  it("without policy lists, applies the create rules on the role's path", async () => {
    const { call, create } = await tokenBackendHarness();
    await call("roles/plain", "create", {});
    const caller = await create({ policies: ["web"] });
    expect(await failure(call("create/plain", "update", { policies: ["db"] }, caller))).toEqual({
      status: 400,
      message: "child policies must be subset of parent",
    });
    expect((await create({ policies: ["db"] }, { ...caller, sudo: true }, "create/plain")).entry.policies).toEqual([
      "db",
      "default",
    ]);
    expect((await create({}, caller, "create/plain")).entry).toMatchObject({ policies: ["default", "web"], role: "plain" });
  });

  it("leaves default out when the role or the request says so, or the role disallows it", async () => {
    const { call, create } = await tokenBackendHarness();
    await call("roles/lean", "create", { allowed_policies: ["web"], token_no_default_policy: true });
    expect((await create({}, undefined, "create/lean")).entry.policies).toEqual(["web"]);
    await call("roles/nodefault", "create", { allowed_policies: ["web"], disallowed_policies: ["default"] });
    expect((await create({}, undefined, "create/nodefault")).entry.policies).toEqual(["web"]);
    expect(await failure(call("create/nodefault", "update", { policies: ["web", "default"] }))).toEqual({
      status: 400,
      message:
        'token policies (["default" "web"]) must be subset of the role\'s allowed policies (["web"]) or glob policies ([])',
    });
    await call("roles/plain", "create", { allowed_policies: ["web"] });
    expect((await create({ no_default_policy: true }, undefined, "create/plain")).entry.policies).toEqual(["web"]);
  });

  it("grants root through a role only to a root caller, as Vault does", async () => {
    const { call, create } = await tokenBackendHarness();
    await call("roles/admin", "create", { allowed_policies: ["root"] });
    expect((await create({}, undefined, "create/admin")).entry.policies).toEqual(["root"]);
    const sudoCaller = { ...(await create({ policies: ["web"] })), sudo: true };
    expect(await failure(call("create/admin", "update", {}, sudoCaller))).toEqual({
      status: 400,
      message: "root tokens may not be created without parent token being root",
    });
    await call("roles/web", "create", { allowed_policies: ["web"] });
    expect(await failure(call("create/web", "update", { policies: ["root"] }))).toEqual({
      status: 400,
      message:
        'token policies (["root"]) must be subset of the role\'s allowed policies (["default" "web"]) or glob policies ([])',
    });
  });

  it("makes orphans for an orphan role and ignores no_parent otherwise", async () => {
    const { call, create } = await tokenBackendHarness();
    const caller = await create({ policies: ["web"] });
    await call("roles/orphans", "create", { orphan: true, allowed_policies: ["web"] });
    const orphan = await create({}, caller, "create/orphans");
    expect(orphan.entry.orphan).toBe(true);
    expect(orphan.entry.parentKey).toBeUndefined();
    await call("roles/children", "create", { allowed_policies: ["web"] });
    const child = await create({ no_parent: true }, caller, "create/children");
    expect(child.entry).toMatchObject({ orphan: false, parentKey: caller.entry.key });
  });

  it("puts the path suffix on the token's path and its lease id", async () => {
    const { h, call, create } = await tokenBackendHarness();
    await call("roles/ci", "create", { allowed_policies: ["web"], path_suffix: "v2" });
    const { entry } = await create({}, undefined, "create/ci");
    expect(entry.path).toBe("auth/token/create/ci/v2");
    expect(entry.leaseId).toBe(`auth/token/create/ci/v2/${entry.key}`);
    expect(h.calls.register.at(-1)?.leaseId).toBe(`auth/token/create/ci/v2/${entry.key}`);
  });

  it("applies the role's num_uses, renewable, bound CIDRs, and the lesser period and explicit max TTL", async () => {
    const { call, create } = await tokenBackendHarness();
    await call("roles/ci", "create", {
      allowed_policies: ["web"],
      token_num_uses: 3,
      renewable: false,
      token_bound_cidrs: ["10.0.0.0/8"],
      token_explicit_max_ttl: "2h",
    });
    const limited = await create({ num_uses: 5, ttl: "1h" }, undefined, "create/ci");
    expect(limited.entry).toMatchObject({ numUses: 3, renewable: false, boundCidrs: ["10.0.0.0/8"], explicitMaxTtl: 2 * HOUR });
    expect((await create({ num_uses: 2 }, undefined, "create/ci")).entry.numUses).toBe(2);

    const resp = await call("create/ci", "update", { explicit_max_ttl: "3h" });
    expect(resp?.warnings).toEqual([
      "Explicit max TTL specified both during creation call and in role; using the lesser value of 7200 seconds",
    ]);

    await call("roles/periodic", "create", { allowed_policies: ["web"], token_period: "1h" });
    const caller = await create({ policies: ["web"] });
    // The role's period needs no sudo; a requested one does, on this path too.
    expect((await create({}, caller, "create/periodic")).entry).toMatchObject({ period: HOUR, ttl: HOUR, renewable: true });
    expect(await failure(call("create/periodic", "update", { period: "30m" }, caller))).toEqual({
      status: 400,
      message: "root or sudo privileges required to create periodic token",
    });
    const both = await call("create/periodic", "update", { period: "30m" });
    expect(both?.warnings).toEqual([
      "Period specified both during creation call and in role; using the lesser value of 1800 seconds",
    ]);
    expect(both?.authResult?.lease_duration).toBe(1800);
  });

  it("takes the token type from the role, or from the request when the role only gives a default", async () => {
    const { call } = await tokenBackendHarness();
    await call("roles/svc", "create", { allowed_policies: ["web"], token_type: "service" });
    expect((await call("create/svc", "update", { type: "batch" }))?.authResult?.token_type).toBe("service");
    await call("roles/batch", "create", { allowed_policies: ["web"], token_type: "batch", orphan: true, renewable: false });
    const batch = (await call("create/batch", "update", { ttl: "10m" }))?.authResult;
    expect(batch).toMatchObject({ token_type: "batch", orphan: true, renewable: false, lease_duration: 600 });
    await call("roles/dflt", "create", { allowed_policies: ["web"], token_type: "default-batch", renewable: false });
    expect((await call("create/dflt", "update", {}))?.authResult?.token_type).toBe("batch");
    expect((await call("create/dflt", "update", { type: "service" }))?.authResult?.token_type).toBe("service");
  });

  it("checks entity_alias against allowed_entity_aliases, then refuses it: there is no identity store", async () => {
    const { call } = await tokenBackendHarness();
    await call("roles/ci", "create", { allowed_policies: ["web"], allowed_entity_aliases: ["bot-*"] });
    expect(await failure(call("create/ci", "update", { entity_alias: "human" }))).toEqual({
      status: 400,
      message: "invalid 'entity_alias' value",
    });
    expect(await failure(call("create/ci", "update", { entity_alias: "Bot-1" }))).toEqual({
      status: 400,
      message: "'entity_alias' is not supported: latchkey has no identity store",
    });
  });
});

describe("tokens of a role", () => {
  it("show their role in lookup, lookup-self and lookup-accessor; other tokens have none", async () => {
    const { h, call, create } = await tokenBackendHarness();
    await call("roles/ci", "create", { allowed_policies: ["web"] });
    const { token, auth } = await create({}, undefined, "create/ci");
    expect((await call("lookup", "update", { token }))?.data).toMatchObject({ role: "ci", path: "auth/token/create/ci" });
    const self = { token, entry: must(await h.tokens.lookup(token)) };
    expect((await call("lookup-self", "read", {}, self))?.data?.role).toBe("ci");
    expect((await call("lookup-accessor", "update", { accessor: auth.accessor }))?.data?.role).toBe("ci");
    const plain = await create({ policies: ["web"] });
    expect(lookupData(plain.entry, "", h.tokens.nowSeconds())).not.toHaveProperty("role");
  });

  it("batch tokens of a role carry it too", async () => {
    const { h, call } = await tokenBackendHarness();
    await call("roles/b", "create", { allowed_policies: ["web"], token_type: "batch", orphan: true, renewable: false });
    const token = must((await call("create/b", "update", {}))?.authResult).client_token;
    expect((await call("lookup", "update", { token }))?.data?.role).toBe("b");
    expect(must(await h.tokens.lookup(token))).toMatchObject({ role: "b" });
  });

  it("renew only while their role exists", async () => {
    const { call, create } = await tokenBackendHarness();
    await call("roles/ci", "create", { allowed_policies: ["web"] });
    const { token, auth } = await create({ ttl: "1h" }, undefined, "create/ci");
    expect((await call("renew", "update", { token }))?.authResult?.lease_duration).toBe(HOUR);
    await call("roles/ci", "delete");
    const refused = { status: 400, message: 'original token role "ci" could not be found, not renewing' };
    expect(await failure(call("renew", "update", { token }))).toEqual(refused);
    expect(await failure(call("renew-accessor", "update", { accessor: auth.accessor }))).toEqual(refused);
  });
});
