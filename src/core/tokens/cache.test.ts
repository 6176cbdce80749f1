import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { createMemoryStore } from "../../storage/memory.js";
import { createView } from "../../storage/view.js";
import { LocalInvalidationBus, type Invalidation } from "../invalidation.js";
import { createPolicyStore } from "../policy/store.js";
import type { TokenEntry } from "../types.js";
import { TokenCache } from "./cache.js";
import { must, tokenHarness } from "./test-harness.js";

const base = { path: "auth/token/create" } as const;
const CTX = { metadata: {} };

/** A token store whose published invalidations are recorded, and a root token looked up once so it is cached. */
async function cachedHarness() {
  const bus = new LocalInvalidationBus();
  const published: Invalidation[] = [];
  bus.subscribe((ev) => published.push(ev));
  const h = tokenHarness({ invalidations: bus });
  const root = await h.root();
  return { ...h, bus, published, root };
}

describe("token cache invalidation", () => {
  it("serves a looked-up token from memory: a change written past the store is not seen until invalidated", async () => {
    // Two stores on one database, each with its own bus: replicas whose invalidations are not carried.
    const physical = createMemoryStore();
    const hmacKey = randomBytes(32);
    const busA = new LocalInvalidationBus();
    const busB = new LocalInvalidationBus();
    const a = tokenHarness({ physical, hmacKey, invalidations: busA });
    const b = tokenHarness({ physical, hmacKey, invalidations: busB });
    const { token, entry } = await a.root();
    must(await b.tokens.lookup(token), "token on B");
    await a.tokens.revokeTree(entry.key);
    expect(await a.tokens.lookup(token)).toBeUndefined();
    // B still holds it: this is what the cache saves, and why invalidations must reach every replica.
    expect(await b.tokens.lookup(token)).toBeDefined();
    busB.deliver({ kind: "token", id: entry.key });
    expect(await b.tokens.lookup(token)).toBeUndefined();
  });

  it("a revoked token is refused on the very next lookup, and the revocation was published", async () => {
    const h = await cachedHarness();
    const { token, entry } = await h.tokens.create({ ...base, policies: ["web"], parent: h.root.entry });
    must(await h.tokens.lookup(token), "token before revoke");
    await h.tokens.revokeTree(entry.key);
    expect(await h.tokens.lookup(token)).toBeUndefined();
    expect(h.published).toContainEqual({ kind: "token", id: entry.key });
  });

  it("revoking a parent refuses its cached children and grandchildren", async () => {
    const h = await cachedHarness();
    const parent = await h.tokens.create({ ...base, policies: ["web"], parent: h.root.entry });
    const child = await h.tokens.create({ ...base, policies: ["web"], parent: parent.entry });
    const grandchild = await h.tokens.create({ ...base, policies: ["web"], parent: child.entry });
    for (const t of [parent, child, grandchild]) must(await h.tokens.lookup(t.token), "token before revoke");
    await h.tokens.revokeTree(parent.entry.key);
    for (const t of [parent, child, grandchild]) expect(await h.tokens.lookup(t.token)).toBeUndefined();
  });

  it("revoking by accessor refuses the cached token", async () => {
    const h = await cachedHarness();
    const { token, entry } = await h.tokens.create({ ...base, policies: ["web"], parent: h.root.entry });
    must(await h.tokens.lookup(token), "token before revoke");
    must(await h.tokens.lookupByAccessor(entry.accessor), "token by accessor");
    expect(await h.tokens.revokeAccessor(entry.accessor)).toBe(true);
    expect(await h.tokens.lookup(token)).toBeUndefined();
    expect(await h.tokens.lookupByAccessor(entry.accessor)).toBeUndefined();
  });

  it("revoke-orphan refuses the parent and serves its children as orphans, not with the old parent link", async () => {
    const h = await cachedHarness();
    const parent = await h.tokens.create({ ...base, policies: ["web"], parent: h.root.entry });
    const child = await h.tokens.create({ ...base, policies: ["web"], parent: parent.entry });
    must(await h.tokens.lookup(parent.token), "parent");
    expect(must(await h.tokens.lookup(child.token), "child").orphan).toBe(false);
    await h.tokens.revokeOrphan(parent.entry.key);
    expect(await h.tokens.lookup(parent.token)).toBeUndefined();
    const orphan = must(await h.tokens.lookup(child.token), "orphaned child");
    expect(orphan.orphan).toBe(true);
    expect(orphan.parentKey).toBeUndefined();
  });

  it("an expired cached token is refused on the next lookup", async () => {
    const h = await cachedHarness();
    const { token } = await h.tokens.create({ ...base, policies: ["web"], parent: h.root.entry, ttl: 60 });
    must(await h.tokens.lookup(token), "token before expiry");
    h.advance(61);
    expect(await h.tokens.lookup(token)).toBeUndefined();
  });

  it("a renewal's new expiry is what the next lookup sees", async () => {
    const h = await cachedHarness();
    const { token } = await h.tokens.create({ ...base, policies: ["web"], parent: h.root.entry, ttl: 60, explicitMaxTtl: 600 });
    const before = must(await h.tokens.lookup(token), "token before renew");
    // Within the cache's safety TTL, so only the renewal's invalidation can refresh the cached entry.
    h.advance(5);
    const renewed = await h.tokens.renew(before, 300);
    expect(renewed.expireTime).toBeGreaterThan(before.expireTime);
    expect(must(await h.tokens.lookup(token), "token after renew").expireTime).toBe(renewed.expireTime);
    h.advance(100);
    expect(await h.tokens.lookup(token)).toBeDefined();
  });

  it("a use-limited token is never cached: 50 concurrent requests through lookup and use allow exactly num_uses", async () => {
    const h = await cachedHarness();
    const { token } = await h.tokens.create({ ...base, policies: ["web"], parent: h.root.entry, numUses: 7 });
    const request = async () => {
      const entry = await h.tokens.lookup(token);
      if (!entry) throw new Error("invalid token");
      await h.tokens.use(entry);
    };
    const results = await Promise.allSettled(Array.from({ length: 50 }, request));
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(7);
    expect(await h.tokens.lookup(token)).toBeUndefined();
  });

  it("a removed mount's cached tokens are refused, and a mounts invalidation empties the cache", async () => {
    const bus = new LocalInvalidationBus();
    const physical = createMemoryStore();
    const sys = createView(physical, "sys/");
    let uuid: string | undefined = "mount-1";
    const { createTokenStore } = await import("./store.js");
    const { fakeLeases } = await import("./test-harness.js");
    const tokens = createTokenStore({
      storage: sys.sub("token/"),
      transaction: (fn) => sys.transaction((tx) => fn(tx.sub("token/"), tx.sub("expire/"))),
      hmacKey: randomBytes(32),
      batchKey: () => ({ term: 1, key: new Uint8Array(randomBytes(32)) }),
      leases: fakeLeases().leases,
      mountUuid: () => uuid,
      invalidations: bus,
    });
    const { token } = await tokens.create({ policies: ["web"], path: "auth/kubernetes/login", noParent: true });
    must(await tokens.lookup(token), "token while mounted");
    uuid = undefined;
    expect(await tokens.lookup(token)).toBeUndefined();
    uuid = "mount-1";
    bus.publish({ kind: "mounts" });
    expect(await tokens.lookup(token)).toBeDefined();
  });

  it("cached entries are frozen, so no request can change what the next one sees", async () => {
    const h = await cachedHarness();
    const entry = must(await h.tokens.lookup(h.root.token), "root");
    expect(() => (entry.policies as string[]).push("extra")).toThrow(TypeError);
  });

  it("a token resolved by its digest is still its own, and still refused once revoked or evicted", async () => {
    const h = tokenHarness({ cache: { maxEntries: 2 } });
    // Chosen ids that differ in one character: the digest must tell them apart.
    const made = [];
    for (const id of ["app-token-1", "app-token-2", "app-token-3"]) {
      made.push(await h.tokens.create({ ...base, policies: [id], path: "auth/token/root", noParent: true, id }));
    }
    for (let round = 0; round < 2; round++) {
      for (const t of made) expect((await h.tokens.lookup(t.token))?.policies).toContain(t.token);
    }
    await h.tokens.revokeTree(made[1].entry.key);
    expect(await h.tokens.lookup("app-token-2")).toBeUndefined();
    expect(await h.tokens.lookup("app-token-2x")).toBeUndefined();
    for (const t of [made[0], made[2]]) expect((await h.tokens.lookup(t.token))?.key).toBe(t.entry.key);
  });
});

describe("ACL invalidation through the bus", () => {
  it("a policy write and delete apply on the next request, and each is published", async () => {
    const bus = new LocalInvalidationBus();
    const published: Invalidation[] = [];
    bus.subscribe((ev) => published.push(ev));
    const policies = createPolicyStore(createView(createMemoryStore(), "sys/policy/"), { invalidations: bus });
    await policies.put("web", `path "kv/*" { capabilities = ["read"] }`);
    expect((await policies.aclFor(["web"])).check("kv/a", "read", CTX).allowed).toBe(true);
    await policies.put("web", `path "other/*" { capabilities = ["read"] }`);
    expect((await policies.aclFor(["web"])).check("kv/a", "read", CTX).allowed).toBe(false);
    expect((await policies.aclFor(["web"])).check("other/a", "read", CTX).allowed).toBe(true);
    await policies.delete("web");
    expect((await policies.aclFor(["web"])).check("other/a", "read", CTX).allowed).toBe(false);
    expect(published).toEqual([
      { kind: "policy", name: "web" },
      { kind: "policy", name: "web" },
      { kind: "policy", name: "web" },
    ]);
  });

  it("a policy invalidation from another replica drops the compiled ACL", async () => {
    const view = createView(createMemoryStore(), "sys/policy/");
    const busA = new LocalInvalidationBus();
    const busB = new LocalInvalidationBus();
    const a = createPolicyStore(view, { invalidations: busA });
    const b = createPolicyStore(view, { invalidations: busB });
    await a.put("web", `path "kv/*" { capabilities = ["read"] }`);
    expect((await b.aclFor(["web"])).check("kv/a", "read", CTX).allowed).toBe(true);
    await a.delete("web");
    expect((await b.aclFor(["web"])).check("kv/a", "read", CTX).allowed).toBe(true);
    busB.deliver({ kind: "policy", name: "web" });
    expect((await b.aclFor(["web"])).check("kv/a", "read", CTX).allowed).toBe(false);
  });
});

describe("TokenCache bounds", () => {
  const entry = (key: string, metadata: Record<string, string> = {}): TokenEntry =>
    ({ key, accessor: "a", type: "service", policies: ["default"], metadata, path: "auth/token/create", displayName: "token",
      creationTime: 0, expireTime: 0, explicitMaxTtl: 0, ttl: 0, period: 0, renewable: false, numUses: 0, orphan: true }) as TokenEntry;

  it("drops the least recently used entry beyond its count", () => {
    const cache = new TokenCache({ maxEntries: 2 });
    cache.set("a", entry("a"));
    cache.set("b", entry("b"));
    cache.get("a");
    cache.set("c", entry("c"));
    expect(cache.get("a")).toBeDefined();
    expect(cache.get("b")).toBeUndefined();
    expect(cache.get("c")).toBeDefined();
    expect(cache.size).toBe(2);
  });

  it("stays within its byte bound however many entries arrive", () => {
    const cache = new TokenCache({ maxBytes: 100_000 });
    for (let i = 0; i < 10_000; i++) cache.set(`k${i}`, entry(`k${i}`, { pod: "x".repeat(100) }));
    expect(cache.byteSize).toBeLessThanOrEqual(100_000);
    expect(cache.size).toBeGreaterThan(0);
    expect(cache.get("k9999")).toBeDefined();
    expect(cache.get("k0")).toBeUndefined();
  });

  it("serves an entry only for its safety TTL", () => {
    let now = 0;
    const cache = new TokenCache({ ttlMs: 1000, now: () => now });
    cache.set("a", entry("a"));
    now = 999;
    expect(cache.get("a")).toBeDefined();
    now = 1000;
    expect(cache.get("a")).toBeUndefined();
    expect(cache.byteSize).toBe(0);
  });
});
