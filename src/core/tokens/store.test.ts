import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { createMemoryStore } from "../../storage/memory.js";
import { LatchkeyError } from "../errors.js";
import type { TokenEntry } from "../types.js";
import { DEFAULT_TOKEN_TTL, MAX_TOKEN_TTL, toAuthResult } from "./store.js";
import { must, START_SECONDS, tokenHarness } from "./test-harness.js";

const HOUR = 3600;

async function rejection(promise: Promise<unknown>): Promise<LatchkeyError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof LatchkeyError)) throw new Error(`expected a LatchkeyError, got ${String(err)}`);
  return err;
}

async function expectError(promise: Promise<unknown>, status: number, message: string) {
  const err = await rejection(promise);
  expect({ status: err.status, message: err.message }).toEqual({ status, message });
}

describe("service tokens", () => {
  it("creates an lks. token stored under its keyed hash, with an accessor and an auth lease", async () => {
    const h = tokenHarness();
    const { entry: root } = await h.root();
    const { token, entry } = await h.tokens.create({
      policies: ["web", "Web", " db "],
      metadata: { team: "a" },
      ttl: HOUR,
      parent: root,
      path: "auth/token/create",
    });
    expect(token).toMatch(/^lks\.[A-Za-z0-9_-]{43}$/);
    expect(entry.key).toMatch(/^[0-9a-f]{64}$/);
    expect(entry.key).toBe(h.tokens.keyOf(token));
    expect(entry.accessor).toMatch(/^[0-9A-Za-z]{24}$/);
    expect(entry).toMatchObject({
      type: "service",
      policies: ["db", "default", "web"],
      metadata: { team: "a" },
      path: "auth/token/create",
      displayName: "token",
      creationTime: START_SECONDS,
      expireTime: START_SECONDS + HOUR,
      ttl: HOUR,
      explicitMaxTtl: 0,
      period: 0,
      renewable: true,
      numUses: 0,
      orphan: false,
      parentKey: root.key,
      leaseId: `auth/token/create/${entry.key}`,
    });
    expect(h.calls.register).toEqual([
      {
        kind: "auth",
        mountPath: "auth/token/",
        path: "create",
        leaseId: `auth/token/create/${entry.key}`,
        ttl: HOUR,
        maxExpireTime: START_SECONDS + MAX_TOKEN_TTL,
        renewable: true,
        authTokenKey: entry.key,
        freshId: true,
      },
    ]);
    expect(await h.tokens.lookup(token)).toEqual(entry);
  });

  it("never writes a token value to storage, in keys or values", async () => {
    const h = tokenHarness();
    const { token: rootToken, entry: root } = await h.root();
    const child = await h.tokens.create({ policies: ["web"], parent: root, path: "auth/token/create", numUses: 3 });
    const grandchild = await h.tokens.create({ policies: ["web"], parent: child.entry, path: "auth/token/create" });
    await h.tokens.use(child.entry);
    await h.tokens.renew(grandchild.entry, 60);
    const dump = await h.dump();
    expect(dump.length).toBeGreaterThan(0);
    for (const token of [rootToken, child.token, grandchild.token]) {
      const secret = token.slice("lks.".length);
      for (const [key, value] of dump) {
        expect(key).not.toContain(secret);
        expect(value).not.toContain(secret);
      }
    }
  });

  it("looks up unknown and malformed tokens as undefined", async () => {
    const h = tokenHarness();
    expect(await h.tokens.lookup("lks.nope")).toBeUndefined();
    expect(await h.tokens.lookup("")).toBeUndefined();
    expect(await h.tokens.lookupByKey("0".repeat(64))).toBeUndefined();
  });

  it("gives root tokens no default policy, no lease and no expiry", async () => {
    const h = tokenHarness();
    const { token, entry } = await h.root();
    expect(entry).toMatchObject({ policies: ["root"], expireTime: 0, ttl: 0, renewable: false, orphan: true });
    expect(entry.leaseId).toBeUndefined();
    expect(h.calls.register).toEqual([]);
    h.advance(10 * 365 * 24 * HOUR);
    expect(await h.tokens.lookup(token)).toEqual(entry);
    await expectError(h.tokens.renew(entry), 400, "token is not renewable");
  });

  it("accepts a chosen id (not a batch-token lookalike, no spaces), and only once", async () => {
    const h = tokenHarness();
    const created = await h.tokens.create({ policies: ["root"], path: "auth/token/root", noParent: true, id: "root" });
    expect(created.token).toBe("root");
    expect(await h.tokens.lookup("root")).toEqual(created.entry);
    await expectError(
      h.tokens.create({ policies: ["root"], path: "auth/token/root", id: "root" }),
      400,
      "token already exists",
    );
    const dotted = await h.tokens.create({ policies: ["root"], path: "auth/token/root", noParent: true, id: "lks.dev-root" });
    expect((await h.tokens.lookup("lks.dev-root"))?.key).toBe(dotted.entry.key);
    for (const id of ["lkb.forged", "a b", ""]) {
      await expectError(
        h.tokens.create({ policies: ["root"], path: "auth/token/root", id }),
        400,
        'field "id" must be a non-empty string without spaces that does not start with "lkb."',
      );
    }
    expect(h.calls.forget).toEqual([]);
  });
});

describe("accessors", () => {
  it("finds, lists and revokes tokens by accessor", async () => {
    const h = tokenHarness();
    const { entry: root } = await h.root();
    const a = await h.tokens.create({ policies: ["web"], parent: root, path: "auth/token/create" });
    const b = await h.tokens.create({ policies: ["web"], parent: root, path: "auth/token/create" });
    expect(await h.tokens.lookupByAccessor(a.entry.accessor)).toEqual(a.entry);
    expect(await h.tokens.listAccessors()).toEqual([root.accessor, a.entry.accessor, b.entry.accessor].sort());
    expect(await h.tokens.revokeAccessor(a.entry.accessor)).toBe(true);
    expect(await h.tokens.lookup(a.token)).toBeUndefined();
    expect(await h.tokens.lookupByAccessor(a.entry.accessor)).toBeUndefined();
    expect(await h.tokens.listAccessors()).toEqual([root.accessor, b.entry.accessor].sort());
    expect(await h.tokens.revokeAccessor(a.entry.accessor)).toBe(false);
  });

  it("keys the accessor index by a keyed hash: no storage key holds an accessor", async () => {
    const h = tokenHarness();
    const { entry: root } = await h.root();
    const a = await h.tokens.create({ policies: ["web"], parent: root, path: "auth/token/create" });
    const keys = (await h.dump()).map(([key]) => key);
    expect(keys.filter((k) => k.includes("/accessor/"))).toHaveLength(2);
    for (const accessor of [root.accessor, a.entry.accessor]) {
      expect(keys.some((k) => k.includes(accessor))).toBe(false);
    }
    expect(keys).toContain(`sys/token/accessor/${h.tokens.hashAccessor(a.entry.accessor)}`);
    expect(h.tokens.hashAccessor(a.entry.accessor)).not.toBe(h.tokens.hashAccessor(root.accessor));
  });

  it("still finds, lists and revokes a token indexed by its plain accessor (older stores)", async () => {
    const h = tokenHarness();
    const { entry: root } = await h.root();
    const a = await h.tokens.create({ policies: ["web"], parent: root, path: "auth/token/create" });
    const index = new TextEncoder().encode(JSON.stringify({ key: a.entry.key }));
    await h.physical.delete(`sys/token/accessor/${h.tokens.hashAccessor(a.entry.accessor)}`);
    await h.physical.put(`sys/token/accessor/${a.entry.accessor}`, index);
    expect(await h.tokens.lookupByAccessor(a.entry.accessor)).toEqual(a.entry);
    expect(await h.tokens.listAccessors()).toEqual([root.accessor, a.entry.accessor].sort());
    expect(await h.tokens.revokeAccessor(a.entry.accessor)).toBe(true);
    expect((await h.dump()).some(([key]) => key.includes(a.entry.accessor))).toBe(false);
  });

  it("does not resolve accessors that are not base62", async () => {
    const h = tokenHarness();
    const { entry: root } = await h.root();
    expect(await h.tokens.lookupByAccessor(`../id/${root.key}`)).toBeUndefined();
    expect(await h.tokens.lookupByAccessor("")).toBeUndefined();
  });
});

describe("TTL, max TTL, period and renewal", () => {
  async function child(params: Partial<Parameters<ReturnType<typeof tokenHarness>["tokens"]["create"]>[0]> = {}) {
    const h = tokenHarness();
    const { entry: root } = await h.root();
    const created = await h.tokens.create({ policies: ["web"], parent: root, path: "auth/token/create", ...params });
    return { h, ...created };
  }

  it("defaults the TTL to 768h and caps a requested TTL there", async () => {
    expect((await child()).entry.ttl).toBe(DEFAULT_TOKEN_TTL);
    const { entry } = await child({ ttl: 10_000 * HOUR });
    expect(entry.ttl).toBe(MAX_TOKEN_TTL);
    expect(entry.expireTime).toBe(START_SECONDS + MAX_TOKEN_TTL);
  });

  it("expires a token at its TTL", async () => {
    const { h, token } = await child({ ttl: 60 });
    h.advance(59);
    expect(await h.tokens.lookup(token)).toBeDefined();
    h.advance(1);
    expect(await h.tokens.lookup(token)).toBeUndefined();
  });

  it("caps the TTL by the explicit max TTL and registers it as the lease's max", async () => {
    const { h, entry } = await child({ ttl: 2 * HOUR, explicitMaxTtl: HOUR });
    expect(entry).toMatchObject({ ttl: HOUR, explicitMaxTtl: HOUR, expireTime: START_SECONDS + HOUR });
    expect(h.calls.register[0].maxExpireTime).toBe(START_SECONDS + HOUR);
  });

  it("renews by the increment, or by the original TTL, from now", async () => {
    const { h, entry } = await child({ ttl: HOUR });
    h.advance(1800);
    const renewed = await h.tokens.renew(entry, 7200);
    expect(renewed.expireTime).toBe(START_SECONDS + 1800 + 7200);
    expect(h.calls.setExpiry).toEqual([{ leaseId: entry.leaseId, expireTime: START_SECONDS + 1800 + 7200 }]);
    h.advance(100);
    expect((await h.tokens.renew(entry)).expireTime).toBe(START_SECONDS + 1900 + HOUR);
    expect((await h.tokens.lookupByKey(entry.key))?.expireTime).toBe(START_SECONDS + 1900 + HOUR);
  });

  it("never renews past the explicit max TTL", async () => {
    const { h, entry } = await child({ ttl: HOUR, explicitMaxTtl: 90 * 60 });
    h.advance(1800);
    expect((await h.tokens.renew(entry, 10 * HOUR)).expireTime).toBe(START_SECONDS + 90 * 60);
  });

  it("never renews a non-periodic token past creation + 768h", async () => {
    const { h, entry } = await child({ ttl: 700 * HOUR });
    h.advance(600 * HOUR);
    expect((await h.tokens.renew(entry)).expireTime).toBe(START_SECONDS + MAX_TOKEN_TTL);
  });

  it("renews a periodic token to its period, ignoring the increment, past 768h", async () => {
    const { h, token, entry } = await child({ ttl: 5 * HOUR, period: HOUR });
    expect(entry).toMatchObject({ ttl: HOUR, period: HOUR, expireTime: START_SECONDS + HOUR });
    expect(h.calls.register[0].maxExpireTime).toBe(0);
    for (let i = 1; i <= 800; i++) {
      h.advance(HOUR - 1);
      await h.tokens.renew(entry, 10 * HOUR);
    }
    const now = START_SECONDS + 800 * (HOUR - 1);
    expect((await h.tokens.lookup(token))?.expireTime).toBe(now + HOUR);
  });

  it("caps a periodic token by its explicit max TTL", async () => {
    const { h, entry } = await child({ period: HOUR, explicitMaxTtl: 90 * 60 });
    h.advance(3000);
    expect((await h.tokens.renew(entry)).expireTime).toBe(START_SECONDS + 90 * 60);
  });

  it("refuses to renew a token created non-renewable", async () => {
    const { h, entry } = await child({ ttl: HOUR, renewable: false });
    expect(h.calls.register[0].renewable).toBe(false);
    await expectError(h.tokens.renew(entry), 400, "token is not renewable");
  });

  it("refuses to renew an expired token", async () => {
    const { h, entry } = await child({ ttl: 60 });
    h.advance(61);
    await expectError(h.tokens.renew(entry), 403, "permission denied");
  });

  it("rejects negative or fractional numbers, naming the field", async () => {
    const h = tokenHarness();
    const { entry: root } = await h.root();
    const base = { policies: ["web"], parent: root, path: "auth/token/create" };
    await expectError(h.tokens.create({ ...base, ttl: -1 }), 400, 'field "ttl" must be a non-negative integer');
    await expectError(h.tokens.create({ ...base, numUses: 1.5 }), 400, 'field "num_uses" must be a non-negative integer');
  });
});

describe("use counts", () => {
  it("counts down, lets the last use succeed, then the token is gone", async () => {
    const h = tokenHarness();
    const { entry: root } = await h.root();
    const { token, entry } = await h.tokens.create({ policies: ["web"], parent: root, path: "auth/token/create", numUses: 2 });
    expect((await h.tokens.use(entry)).numUses).toBe(1);
    expect((await h.tokens.lookup(token))?.numUses).toBe(1);
    const last = await h.tokens.use(must(await h.tokens.lookup(token)));
    expect(last.numUses).toBe(-1);
    expect(await h.tokens.lookup(token)).toBeUndefined();
    expect(await h.tokens.lookupByAccessor(entry.accessor)).toBeUndefined();
    expect(h.calls.revokeByToken).toContain(entry.key);
    expect(h.calls.forget).toContain(entry.leaseId);
    await expectError(h.tokens.use(entry), 403, "permission denied");
  });

  it("leaves unlimited tokens untouched", async () => {
    const h = tokenHarness();
    const { entry: root } = await h.root();
    const before = await h.dump();
    expect(await h.tokens.use(root)).toBe(root);
    expect(await h.dump()).toEqual(before);
  });
});

describe("revocation", () => {
  async function family() {
    const h = tokenHarness();
    const { entry: root } = await h.root();
    const make = (parent: TokenEntry, extra: { noParent?: boolean } = {}) =>
      h.tokens.create({ policies: ["web"], parent, path: "auth/token/create", ttl: HOUR, ...extra });
    const a = await make(root);
    const b = await make(a.entry);
    const c = await make(b.entry);
    const b2 = await make(a.entry);
    const orphan = await make(a.entry, { noParent: true });
    return { h, root, a, b, c, b2, orphan };
  }

  it("revokes a token with its children and grandchildren, but not orphans it made", async () => {
    const { h, root, a, b, c, b2, orphan } = await family();
    expect(orphan.entry).toMatchObject({ orphan: true });
    expect(orphan.entry.parentKey).toBeUndefined();
    await h.tokens.revokeTree(a.entry.key);
    for (const t of [a, b, c, b2]) expect(await h.tokens.lookup(t.token)).toBeUndefined();
    expect(await h.tokens.lookupByKey(root.key)).toBeDefined();
    expect(await h.tokens.lookup(orphan.token)).toBeDefined();
    // Children before parents; each token's leases, then its own auth lease.
    expect(h.calls.revokeByToken.indexOf(c.entry.key)).toBeLessThan(h.calls.revokeByToken.indexOf(b.entry.key));
    expect(h.calls.revokeByToken.indexOf(b.entry.key)).toBeLessThan(h.calls.revokeByToken.indexOf(a.entry.key));
    expect(new Set(h.calls.revokeByToken)).toEqual(new Set([a, b, c, b2].map((t) => t.entry.key)));
    expect(new Set(h.calls.forget)).toEqual(new Set([a, b, c, b2].map((t) => t.entry.leaseId)));
    const left = (await h.dump()).map(([k]) => k);
    expect(left.filter((k) => k.startsWith("sys/token/parent/"))).toEqual([]);
    expect(left.filter((k) => k.startsWith("sys/token/accessor/"))).toHaveLength(2);
  });

  it("revoke-orphan revokes the token only; its children become orphans", async () => {
    const { h, a, b, c, b2 } = await family();
    await h.tokens.revokeOrphan(a.entry.key);
    expect(await h.tokens.lookup(a.token)).toBeUndefined();
    for (const t of [b, b2]) {
      const entry = await h.tokens.lookup(t.token);
      expect(entry).toMatchObject({ orphan: true });
      expect(entry?.parentKey).toBeUndefined();
    }
    expect(await h.tokens.lookup(c.token)).toMatchObject({ orphan: false, parentKey: b.entry.key });
    expect(h.calls.revokeByToken).toEqual([a.entry.key]);
    await h.tokens.revokeTree(b.entry.key);
    expect(await h.tokens.lookup(c.token)).toBeUndefined();
    expect(await h.tokens.lookup(b2.token)).toBeDefined();
  });

  it("refuses children of a revoked parent", async () => {
    const { h, a } = await family();
    await h.tokens.revokeTree(a.entry.key);
    const registered = h.calls.register.length;
    await expectError(
      h.tokens.create({ policies: ["web"], parent: a.entry, path: "auth/token/create" }),
      403,
      "permission denied",
    );
    // The token and its lease are one transaction: a refused child leaves no lease behind.
    expect(h.calls.register).toHaveLength(registered);
  });

  /** A store whose revocation step throws ("the server died") on the key given to `doom`, and a fresh store on its storage. */
  async function dying() {
    const physical = createMemoryStore();
    const hmacKey = randomBytes(32);
    let doomed = "";
    const h = tokenHarness({
      physical,
      hmacKey,
      onRevoke: async (key) => {
        if (key === doomed) throw new Error("killed");
      },
    });
    const { entry: root } = await h.root();
    return { h, root, doom: (key: string) => void (doomed = key), restart: () => tokenHarness({ physical, hmacKey }) };
  }

  async function interruptedFamily(revoke: (h: ReturnType<typeof tokenHarness>, key: string) => Promise<void>, doomed: "a" | "b") {
    const { h, root, doom, restart } = await dying();
    const make = (parent: TokenEntry) => h.tokens.create({ policies: ["web"], parent, path: "auth/token/create", ttl: HOUR });
    const a = await make(root);
    const b = await make(a.entry);
    const c = await make(b.entry);
    const b2 = await make(a.entry);
    doom({ a, b }[doomed].entry.key);
    await expect(revoke(h, a.entry.key)).rejects.toThrow("killed");
    return { a, b, c, b2, after: restart() };
  }

  it("finishes a tree revocation a crash interrupted: no live child under a tainted parent", async () => {
    const { a, b, c, b2, after } = await interruptedFamily((h, key) => h.tokens.revokeTree(key), "b");
    // Half-way: the root no longer authenticates, a child still does.
    expect(await after.tokens.lookup(a.token)).toBeUndefined();
    expect(await after.tokens.lookup(b.token)).toBeDefined();
    expect(await after.tokens.resumeRevocations()).toBe(1);
    for (const t of [a, b, c, b2]) expect(await after.tokens.lookup(t.token)).toBeUndefined();
    expect((await after.dump()).map(([k]) => k).filter((k) => /^sys\/token\/(revoking|parent)\//.test(k))).toEqual([]);
    expect(await after.tokens.resumeRevocations()).toBe(0);
  });

  it("marks no expired token before revoking its tree: its auth lease, kept until the end, brings the revocation back", async () => {
    const { h, root, doom, restart } = await dying();
    const a = await h.tokens.create({ policies: ["web"], parent: root, path: "auth/token/create", ttl: 60 });
    const b = await h.tokens.create({ policies: ["web"], parent: a.entry, path: "auth/token/create", ttl: HOUR });
    h.advance(120);
    doom(b.entry.key);
    await expect(h.tokens.revokeTree(a.entry.key)).rejects.toThrow("killed");
    const after = restart();
    expect((await after.dump()).map(([k]) => k).filter((k) => k.startsWith("sys/token/revoking/"))).toEqual([]);
    expect(await after.tokens.resumeRevocations()).toBe(0);
    // The lease was not forgotten: the lease manager revokes it again, and this time the tree goes.
    expect(h.calls.forget).not.toContain(must(a.entry.leaseId));
    await after.tokens.revokeTree(a.entry.key);
    for (const t of [a, b]) expect(await after.tokens.exists(t.entry.key)).toBe(false);
    expect(after.calls.forget).toContain(must(a.entry.leaseId));
  });

  it("marks a live token before revoking its tree, and an expired one it orphans", async () => {
    const { h, root, doom, restart } = await dying();
    const live = await h.tokens.create({ policies: ["web"], parent: root, path: "auth/token/create", ttl: HOUR });
    const expired = await h.tokens.create({ policies: ["web"], parent: root, path: "auth/token/create", ttl: 60 });
    h.advance(120);
    doom(live.entry.key);
    await expect(h.tokens.revokeTree(live.entry.key)).rejects.toThrow("killed");
    doom(expired.entry.key);
    await expect(h.tokens.revokeOrphan(expired.entry.key)).rejects.toThrow("killed");
    const after = restart();
    expect(await after.tokens.resumeRevocations()).toBe(2);
    for (const t of [live, expired]) expect(await after.tokens.exists(t.entry.key)).toBe(false);
  });

  it("finishes an interrupted revoke-orphan as one: the children live on as orphans", async () => {
    const { a, b, c, b2, after } = await interruptedFamily((h, key) => h.tokens.revokeOrphan(key), "a");
    expect(await after.tokens.resumeRevocations()).toBe(1);
    expect(await after.tokens.lookup(a.token)).toBeUndefined();
    for (const t of [b, b2]) expect(await after.tokens.lookup(t.token)).toMatchObject({ orphan: true });
    expect(await after.tokens.lookup(c.token)).toMatchObject({ parentKey: b.entry.key });
  });

  it("finishes the revocation of a use-limited token whose last use was counted", async () => {
    const { h, root, doom, restart } = await dying();
    const once = await h.tokens.create({ policies: ["web"], parent: root, path: "auth/token/create", ttl: HOUR, numUses: 1 });
    doom(once.entry.key);
    await expect(h.tokens.use(once.entry)).rejects.toThrow("killed");
    const after = restart();
    expect(await after.tokens.exists(once.entry.key)).toBe(true);
    expect(await after.tokens.resumeRevocations()).toBe(1);
    expect(await after.tokens.exists(once.entry.key)).toBe(false);
  });

  it("revoking an unknown key is a no-op", async () => {
    const h = tokenHarness();
    await h.tokens.revokeTree("f".repeat(64));
    await h.tokens.revokeOrphan("f".repeat(64));
    expect(await h.dump()).toEqual([]);
  });
});

describe("policies", () => {
  it("requires a child's policies to be a subset of its parent's", async () => {
    const h = tokenHarness();
    const { entry: root } = await h.root();
    const { entry: web } = await h.tokens.create({ policies: ["web", "db"], parent: root, path: "auth/token/create" });
    await expectError(
      h.tokens.create({ policies: ["web", "admin"], parent: web, path: "auth/token/create" }),
      400,
      "child policies must be subset of parent",
    );
    await expectError(
      h.tokens.create({ policies: ["root"], parent: web, path: "auth/token/create" }),
      400,
      "child policies must be subset of parent",
    );
    const ok = await h.tokens.create({ policies: ["db", "default"], parent: web, path: "auth/token/create" });
    expect(ok.entry.policies).toEqual(["db", "default"]);
    const anything = await h.tokens.create({ policies: ["admin"], parent: root, path: "auth/token/create" });
    expect(anything.entry.policies).toEqual(["admin", "default"]);
  });

  it("adds default unless asked not to, or the parent lacks it", async () => {
    const h = tokenHarness();
    const { entry: root } = await h.root();
    const noDefault = await h.tokens.create({
      policies: ["web", "default"],
      noDefaultPolicy: true,
      parent: root,
      path: "auth/token/create",
    });
    expect(noDefault.entry.policies).toEqual(["web"]);
    const grandchild = await h.tokens.create({ policies: ["web"], parent: noDefault.entry, path: "auth/token/create" });
    expect(grandchild.entry.policies).toEqual(["web"]);
    await expectError(
      h.tokens.create({ policies: [], noDefaultPolicy: true, parent: root, path: "auth/token/create" }),
      400,
      "token must have at least one policy",
    );
  });
});

describe("policy rules of the creating path", () => {
  it("sudo: any policies, default added even when the parent lacks it, never root", async () => {
    const h = tokenHarness();
    const { entry: root } = await h.root();
    const { entry: web } = await h.tokens.create({
      policies: ["web"],
      noDefaultPolicy: true,
      parent: root,
      path: "auth/token/create",
    });
    const wide = await h.tokens.create({ policies: ["Admin"], policyRule: "sudo", parent: web, path: "auth/token/create" });
    expect(wide.entry).toMatchObject({ policies: ["admin", "default"], parentKey: web.key });
    await expectError(
      h.tokens.create({ policies: ["root"], policyRule: "sudo", parent: web, path: "auth/token/create" }),
      400,
      "root tokens may not be created without parent token being root",
    );
  });

  it("exact: the policies as given, no default added, default stripped on request, never root", async () => {
    const h = tokenHarness();
    const { entry: root } = await h.root();
    const { entry: web } = await h.tokens.create({ policies: ["web"], parent: root, path: "auth/token/create" });
    const base = { policyRule: "exact" as const, parent: web, path: "auth/token/create/ci" };
    expect((await h.tokens.create({ ...base, policies: ["db"] })).entry.policies).toEqual(["db"]);
    expect((await h.tokens.create({ ...base, policies: ["db", "default"], noDefaultPolicy: true })).entry.policies).toEqual([
      "db",
    ]);
    await expectError(
      h.tokens.create({ ...base, policies: ["root"] }),
      400,
      "root tokens may not be created without parent token being root",
    );
    await expectError(h.tokens.create({ ...base, policies: [] }), 400, "token must have at least one policy");
    expect((await h.tokens.create({ ...base, policies: ["root"], parent: root })).entry.policies).toEqual(["root"]);
  });

  it("keeps the token role on the stored entry, and none without one", async () => {
    const h = tokenHarness();
    const { entry: root } = await h.root();
    const { token } = await h.tokens.create({ policies: ["web"], parent: root, path: "auth/token/create/ci", role: "ci" });
    expect(await h.tokens.lookup(token)).toMatchObject({ role: "ci", path: "auth/token/create/ci" });
    const plain = await h.tokens.create({ policies: ["web"], parent: root, path: "auth/token/create" });
    expect(await h.tokens.lookup(plain.token)).not.toHaveProperty("role");
  });
});

describe("batch tokens", () => {
  async function batch(ttl = HOUR) {
    const h = tokenHarness();
    const { entry: root } = await h.root();
    const before = await h.dump();
    const registered = h.calls.register.length;
    const created = await h.tokens.create({
      policies: ["web"],
      metadata: { ns: "prod" },
      ttl,
      type: "batch",
      parent: root,
      path: "auth/token/create",
    });
    expect(await h.dump()).toEqual(before);
    expect(h.calls.register).toHaveLength(registered);
    return { h, root, ...created };
  }

  it("round-trips without a storage write", async () => {
    const { h, root, token, entry } = await batch();
    expect(token).toMatch(/^lkb\.[A-Za-z0-9_-]+$/);
    expect(entry).toMatchObject({
      type: "batch",
      accessor: "",
      policies: ["default", "web"],
      metadata: { ns: "prod" },
      renewable: false,
      orphan: false,
      parentKey: root.key,
      expireTime: START_SECONDS + HOUR,
    });
    expect(entry.key).toBe(h.tokens.keyOf(token));
    expect(entry.leaseId).toBeUndefined();
    expect(await h.tokens.lookup(token)).toEqual(entry);
    expect(await h.tokens.use(entry)).toBe(entry);
  });

  it("defaults to the 768h TTL", async () => {
    const h = tokenHarness();
    const { entry: root } = await h.root();
    const { entry } = await h.tokens.create({ policies: ["web"], type: "batch", parent: root, path: "x" });
    expect(entry.ttl).toBe(DEFAULT_TOKEN_TTL);
  });

  it("rejects a tampered token", async () => {
    const { h, token } = await batch();
    const i = 20;
    const flipped = token.slice(0, i) + (token[i] === "A" ? "B" : "A") + token.slice(i + 1);
    await expectError(h.tokens.lookup(flipped), 403, "permission denied");
    await expectError(h.tokens.lookup(token.slice(0, -4)), 403, "permission denied");
    await expectError(h.tokens.lookup("lkb.AAAA"), 403, "permission denied");
    await expectError(h.tokens.lookup("lkb."), 403, "permission denied");
  });

  it("rejects an expired token", async () => {
    const { h, token } = await batch(60);
    h.advance(59);
    expect(await h.tokens.lookup(token)).toBeDefined();
    h.advance(1);
    await expectError(h.tokens.lookup(token), 403, "permission denied");
  });

  it("rejects a token once the keyring rotates past it", async () => {
    const { h, token } = await batch();
    h.rotateBatchKey();
    await expectError(h.tokens.lookup(token), 403, "permission denied");
  });

  it("dies with its parent", async () => {
    const h = tokenHarness();
    const { entry: root } = await h.root();
    const parent = await h.tokens.create({ policies: ["web"], parent: root, path: "auth/token/create" });
    const child = await h.tokens.create({ policies: ["web"], type: "batch", parent: parent.entry, path: "x" });
    const orphan = await h.tokens.create({ policies: ["web"], type: "batch", parent: parent.entry, noParent: true, path: "x" });
    await h.tokens.revokeTree(parent.entry.key);
    await expectError(h.tokens.lookup(child.token), 403, "permission denied");
    expect(await h.tokens.lookup(orphan.token)).toMatchObject({ orphan: true });
  });

  it("cannot renew, parent tokens, be root, periodic or use-limited", async () => {
    const { h, entry } = await batch();
    await expectError(h.tokens.renew(entry), 400, "token is not renewable");
    await expectError(
      h.tokens.create({ policies: ["web"], parent: entry, path: "auth/token/create" }),
      400,
      "batch tokens cannot create more tokens",
    );
    const base = { type: "batch" as const, path: "auth/token/create" };
    await expectError(h.tokens.create({ ...base, policies: ["root"] }), 400, "batch tokens cannot be root tokens");
    await expectError(h.tokens.create({ ...base, policies: ["a"], period: 60 }), 400, "batch tokens cannot be periodic");
    await expectError(
      h.tokens.create({ ...base, policies: ["a"], numUses: 1 }),
      400,
      "batch tokens cannot have a limited number of uses",
    );
  });
});

describe("toAuthResult", () => {
  it("renders Vault's auth block", async () => {
    const h = tokenHarness();
    const { entry: root } = await h.root();
    const { token, entry } = await h.tokens.create({
      policies: ["web"],
      metadata: { a: "b" },
      ttl: HOUR,
      parent: root,
      path: "auth/token/create",
    });
    expect(toAuthResult(token, entry, START_SECONDS + 600)).toEqual({
      client_token: token,
      accessor: entry.accessor,
      policies: ["default", "web"],
      token_policies: ["default", "web"],
      metadata: { a: "b" },
      lease_duration: HOUR - 600,
      renewable: true,
      entity_id: "",
      token_type: "service",
      orphan: false,
      num_uses: 0,
    });
    expect(toAuthResult("root", root, START_SECONDS)).toMatchObject({ metadata: null, lease_duration: 0, orphan: true });
  });
});
