import { describe, expect, it } from "vitest";
import { must, START_SECONDS } from "../../core/tokens/test-harness.js";
import type { LeaseEntry } from "../../core/types.js";
import { createMemoryStore } from "../../storage/memory.js";
import { createView } from "../../storage/view.js";
import { lookupData } from "./backend.js";
import { failure, tokenBackendHarness as setup } from "./test-harness.js";

const HOUR = 3600;

describe("auth/token/ path table", () => {
  it("declares sudo and client-token paths as Vault does", async () => {
    const { backend } = await setup();
    const flags = Object.fromEntries(
      backend.paths.map((p) => [p.pattern, { sudo: p.sudo === true, self: p.needsClientToken === true }]),
    );
    expect(flags).toEqual({
      create: { sudo: false, self: false },
      "create-orphan": { sudo: false, self: false },
      "create/:role_name": { sudo: false, self: false },
      roles: { sudo: false, self: false },
      "roles/": { sudo: false, self: false },
      "roles/:role_name": { sudo: false, self: false },
      lookup: { sudo: false, self: false },
      "lookup-self": { sudo: false, self: true },
      "lookup-accessor": { sudo: false, self: false },
      renew: { sudo: false, self: false },
      "renew-self": { sudo: false, self: true },
      "renew-accessor": { sudo: false, self: false },
      revoke: { sudo: false, self: false },
      "revoke-self": { sudo: false, self: true },
      "revoke-orphan": { sudo: true, self: false },
      "revoke-accessor": { sudo: false, self: false },
      accessors: { sudo: true, self: false },
    });
  });
});

describe("create", () => {
  it("returns the new token in Vault's auth block, with warnings for unknown policies", async () => {
    const { call, root } = await setup();
    const resp = await call("create", "update", {
      policies: ["web", "stage"],
      meta: { user: "ada" },
      ttl: "1h",
      renewable: true,
      display_name: "ci job",
    });
    expect(resp?.data).toBeUndefined();
    expect(resp?.warnings).toEqual(['Policy "stage" does not exist']);
    const auth = resp?.authResult;
    expect(auth).toEqual({
      client_token: expect.stringMatching(/^lks\./),
      accessor: expect.stringMatching(/^[0-9A-Za-z]{24}$/),
      policies: ["default", "stage", "web"],
      token_policies: ["default", "stage", "web"],
      metadata: { user: "ada" },
      lease_duration: HOUR,
      renewable: true,
      entity_id: "",
      token_type: "service",
      orphan: false,
      num_uses: 0,
    });
    expect(auth?.client_token).not.toBe(root.token);
  });

  it("sets display name, path, parent and limits from Vault's field names", async () => {
    const { create, root } = await setup();
    const { entry } = await create({
      policies: "web,db",
      display_name: "ci job!",
      explicit_max_ttl: 7200,
      num_uses: 3,
      ttl: "90m",
    });
    expect(entry).toMatchObject({
      displayName: "token-ci-job",
      path: "auth/token/create",
      parentKey: root.entry.key,
      policies: ["db", "default", "web"],
      ttl: 5400,
      explicitMaxTtl: 7200,
      numUses: 3,
    });
  });

  it("inherits the caller's policies when none are given", async () => {
    const { create } = await setup();
    const parent = await create({ policies: ["web"] });
    const child = await create({}, parent);
    expect(child.auth.policies).toEqual(["default", "web"]);
    const rootChild = await create({});
    expect(rootChild.auth).toMatchObject({ policies: ["root"], lease_duration: 0, renewable: false });
  });

  it("enforces the policy subset rule", async () => {
    const { call, create } = await setup();
    const parent = await create({ policies: ["web"] });
    expect(await failure(call("create", "update", { policies: ["db"] }, parent))).toEqual({
      status: 400,
      message: "child policies must be subset of parent",
    });
  });

  it("honours no_parent for root and sudo callers and refuses it to others; create-orphan always makes orphans", async () => {
    const { create, call } = await setup();
    expect((await create({ policies: ["web"], no_parent: true })).auth.orphan).toBe(true);
    const parent = await create({ policies: ["web"] });
    const refused = { status: 400, message: "root or sudo privileges required to create orphan token" };
    expect(await failure(call("create", "update", { no_parent: true }, parent))).toEqual(refused);
    const bySudo = await create({ no_parent: true }, { ...parent, sudo: true });
    expect(bySudo.auth.orphan).toBe(true);
    expect(bySudo.entry.parentKey).toBeUndefined();
    expect((await create({}, parent, "create-orphan")).auth.orphan).toBe(true);
    // Vault asks for sudo for no_parent even on create-orphan, where it changes nothing.
    expect(await failure(call("create-orphan", "update", { no_parent: true }, parent))).toEqual(refused);
  });

  it("allows periodic tokens for root and sudo callers only, create-orphan included", async () => {
    const { call, create } = await setup();
    const periodic = await create({ policies: ["web"], period: "1h" });
    expect(periodic.entry).toMatchObject({ period: HOUR, ttl: HOUR });
    const parent = await create({ policies: ["web"] });
    const refused = { status: 400, message: "root or sudo privileges required to create periodic token" };
    expect(await failure(call("create", "update", { period: "1h" }, parent))).toEqual(refused);
    expect(await failure(call("create-orphan", "update", { period: "1h" }, parent))).toEqual(refused);
    const sudo = { ...parent, sudo: true };
    expect((await call("create-orphan", "update", { period: "1h" }, sudo))?.authResult?.lease_duration).toBe(HOUR);
    expect((await create({ period: "1h" }, sudo)).entry).toMatchObject({ period: HOUR, parentKey: parent.entry.key });
  });

  it("creates batch tokens", async () => {
    const { call } = await setup();
    const auth = (await call("create", "update", { policies: ["web"], type: "batch", ttl: "10m" }))?.authResult;
    expect(auth).toMatchObject({
      client_token: expect.stringMatching(/^lkb\./),
      accessor: "",
      token_type: "batch",
      renewable: false,
      lease_duration: 600,
    });
  });

  it("rejects bad input with a message naming the field", async () => {
    const { call } = await setup();
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ ttl: "soon" }, 'field "ttl" must be a duration such as "30s", "5m", "1h" or a number of seconds'],
      [{ type: "default" }, 'field "type" must be "service" or "batch"'],
      [{ meta: { n: 1 } }, 'field "meta" must map strings to strings'],
      [{ num_uses: -1 }, 'field "num_uses" must be a non-negative integer'],
      [{ policies: [1] }, 'field "policies" must be a list of strings'],
    ];
    for (const [data, message] of cases) {
      expect(await failure(call("create", "update", data))).toEqual({ status: 400, message });
    }
  });
});

describe("lookup", () => {
  const LOOKUP_KEYS = [
    "accessor",
    "creation_time",
    "creation_ttl",
    "display_name",
    "entity_id",
    "expire_time",
    "explicit_max_ttl",
    "id",
    "issue_time",
    "meta",
    "num_uses",
    "orphan",
    "path",
    "policies",
    "renewable",
    "ttl",
    "type",
  ];

  it("returns Vault's lookup data for a given token", async () => {
    const { h, call, create } = await setup();
    const { token, entry } = await create({ policies: ["web"], ttl: "1h", meta: { ns: "prod" } });
    h.advance(600);
    const data = (await call("lookup", "update", { token }))?.data;
    expect(Object.keys(data ?? {}).sort()).toEqual(LOOKUP_KEYS);
    expect(data).toEqual({
      accessor: entry.accessor,
      creation_time: START_SECONDS,
      creation_ttl: HOUR,
      display_name: "token",
      entity_id: "",
      expire_time: new Date((START_SECONDS + HOUR) * 1000).toISOString(),
      explicit_max_ttl: 0,
      id: token,
      issue_time: new Date(START_SECONDS * 1000).toISOString(),
      meta: { ns: "prod" },
      num_uses: 0,
      orphan: false,
      path: "auth/token/create",
      policies: ["default", "web"],
      renewable: true,
      ttl: HOUR - 600,
      type: "service",
    });
  });

  it("reports a bad token as 403", async () => {
    const { call } = await setup();
    expect(await failure(call("lookup", "update", { token: "lks.unknown" }))).toEqual({
      status: 403,
      message: "permission denied: bad token",
    });
    expect(await failure(call("lookup", "update", {}))).toEqual({ status: 400, message: 'missing required field "token"' });
  });

  it("lookup-self describes the caller, with its token as id", async () => {
    const { call, root } = await setup();
    const data = (await call("lookup-self", "read"))?.data;
    expect(data).toMatchObject({
      id: root.token,
      policies: ["root"],
      expire_time: null,
      ttl: 0,
      meta: null,
      orphan: true,
      display_name: "root",
      path: "auth/token/root",
    });
    expect(Object.keys(data ?? {}).sort()).toEqual(LOOKUP_KEYS);
  });

  it("lookup-self shows a periodic token's period", async () => {
    const { call, create } = await setup();
    const periodic = await create({ policies: ["web"], period: "2h" });
    expect((await call("lookup-self", "read", {}, periodic))?.data).toMatchObject({ period: 2 * HOUR, ttl: 2 * HOUR });
  });

  it("lookup-accessor never reveals the token", async () => {
    const { call, create } = await setup();
    const { auth } = await create({ policies: ["web"] });
    const data = (await call("lookup-accessor", "update", { accessor: auth.accessor }))?.data;
    expect(data).toMatchObject({ id: "", accessor: auth.accessor, policies: ["default", "web"] });
    expect(JSON.stringify(data)).not.toContain(auth.client_token);
    expect(await failure(call("lookup-accessor", "update", { accessor: "nope" }))).toEqual({
      status: 400,
      message: "invalid accessor",
    });
  });
});

describe("renew", () => {
  it("renew, renew-self and renew-accessor return the auth block with the new TTL", async () => {
    const { h, call, create } = await setup();
    const { token, auth } = await create({ policies: ["web"], ttl: "1h" });
    h.advance(1800);
    const renewed = (await call("renew", "update", { token, increment: "2h" }))?.authResult;
    expect(renewed).toMatchObject({ client_token: token, accessor: auth.accessor, lease_duration: 2 * HOUR });
    expect(h.calls.setExpiry.at(-1)?.expireTime).toBe(START_SECONDS + 1800 + 2 * HOUR);

    const self = { token, entry: must(await h.tokens.lookup(token)) };
    const selfRenewed = (await call("renew-self", "update", { increment: 600 }, self))?.authResult;
    expect(selfRenewed).toMatchObject({ client_token: token, lease_duration: 600 });

    const byAccessor = (await call("renew-accessor", "update", { accessor: auth.accessor }))?.authResult;
    expect(byAccessor).toMatchObject({ client_token: "", accessor: auth.accessor, lease_duration: HOUR });
  });

  it("refuses non-renewable and unknown tokens", async () => {
    const { call, root, create } = await setup();
    expect(await failure(call("renew", "update", { token: root.token }))).toEqual({
      status: 400,
      message: "token is not renewable",
    });
    const batch = await call("create", "update", { policies: ["web"], type: "batch" });
    expect(await failure(call("renew", "update", { token: batch?.authResult?.client_token }))).toEqual({
      status: 400,
      message: "token is not renewable",
    });
    const fixed = await create({ policies: ["web"], renewable: false });
    expect(await failure(call("renew-self", "update", {}, fixed))).toEqual({ status: 400, message: "token is not renewable" });
    expect(await failure(call("renew", "update", { token: "lks.gone" }))).toEqual({
      status: 403,
      message: "permission denied: bad token",
    });
  });

  it("refuses renewal of token leases through the lease API", async () => {
    const { backend } = await setup();
    const lease: LeaseEntry = {
      leaseId: "auth/token/create/k",
      mountPath: "auth/token/",
      path: "create",
      kind: "auth",
      issueTime: START_SECONDS,
      expireTime: START_SECONDS + HOUR,
      ttl: HOUR,
      maxExpireTime: 0,
      renewable: true,
      internal: {},
      authTokenKey: "k",
    };
    expect(await failure(backend.renew?.(lease, createView(createMemoryStore())) ?? Promise.resolve())).toEqual({
      status: 400,
      message: "tokens cannot be renewed through this endpoint",
    });
  });
});

describe("revoke", () => {
  it("revoke removes a token and its children; revoking again is fine", async () => {
    const { h, call, create } = await setup();
    const parent = await create({ policies: ["web"] });
    const child = await create({}, parent);
    expect(await call("revoke", "update", { token: parent.token })).toBeUndefined();
    expect(await h.tokens.lookup(parent.token)).toBeUndefined();
    expect(await h.tokens.lookup(child.token)).toBeUndefined();
    expect(await call("revoke", "update", { token: parent.token })).toBeUndefined();
  });

  it("revoke-self revokes the caller", async () => {
    const { h, call, create } = await setup();
    const me = await create({ policies: ["web"] });
    expect(await call("revoke-self", "update", {}, me)).toBeUndefined();
    expect(await h.tokens.lookup(me.token)).toBeUndefined();
  });

  it("revoke-orphan keeps the children as orphans", async () => {
    const { h, call, create } = await setup();
    const parent = await create({ policies: ["web"] });
    const child = await create({}, parent);
    await call("revoke-orphan", "update", { token: parent.token });
    expect(await h.tokens.lookup(parent.token)).toBeUndefined();
    expect(await h.tokens.lookup(child.token)).toMatchObject({ orphan: true });
  });

  it("revoke-accessor revokes by accessor; an unknown accessor is a 400", async () => {
    const { h, call, create } = await setup();
    const target = await create({ policies: ["web"] });
    expect(await call("revoke-accessor", "update", { accessor: target.auth.accessor })).toBeUndefined();
    expect(await h.tokens.lookup(target.token)).toBeUndefined();
    expect(await failure(call("revoke-accessor", "update", { accessor: target.auth.accessor }))).toEqual({
      status: 400,
      message: "invalid accessor",
    });
  });

  it("batch tokens cannot be revoked", async () => {
    const { h, call } = await setup();
    const auth = must((await call("create", "update", { policies: ["web"], type: "batch" }))?.authResult);
    const expected = { status: 400, message: "batch tokens cannot be revoked" };
    expect(await failure(call("revoke", "update", { token: auth.client_token }))).toEqual(expected);
    const entry = must(await h.tokens.lookup(auth.client_token));
    expect(await failure(call("revoke-self", "update", {}, { token: auth.client_token, entry }))).toEqual(expected);
  });
});

describe("accessors", () => {
  it("lists every accessor", async () => {
    const { call, create, root } = await setup();
    const a = await create({ policies: ["web"] });
    const resp = await call("accessors", "list");
    expect(resp).toEqual({ data: { keys: [root.entry.accessor, a.auth.accessor].sort() } });
  });
});

describe("lookupData's times", () => {
  it("are RFC 3339 for every time, past the formatted times it keeps", async () => {
    const { create, h } = await setup();
    const { entry } = await create({ ttl: "1h" });
    for (let i = 0; i < 3000; i += 1) {
      const times = { ...entry, creationTime: START_SECONDS + i, expireTime: START_SECONDS + 7 * i + 1 };
      const data = lookupData(times, "", h.tokens.nowSeconds());
      expect(data.issue_time).toBe(new Date((START_SECONDS + i) * 1000).toISOString());
      expect(data.expire_time).toBe(new Date((START_SECONDS + 7 * i + 1) * 1000).toISOString());
    }
  });
});
