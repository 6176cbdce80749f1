import { describe, expect, it } from "vitest";
import { LatchkeyError } from "../errors.js";
import type { LeaseRegistration } from "../types.js";
import { leaseHash } from "./keys.js";
import { allKeys, countingView, failingWith, leaseHarness, T0 } from "./test-harness.js";

const creds: LeaseRegistration = {
  mountPath: "kubernetes/",
  path: "creds/demo",
  kind: "secret",
  ttl: 3600,
  renewable: true,
  internal: { serviceAccount: "demo-sa-x1" },
};

async function rejection(promise: Promise<unknown>): Promise<LatchkeyError> {
  const err: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof LatchkeyError)) throw new Error(`expected a LatchkeyError, got ${String(err)}`);
  return err;
}

describe("register and lookup", () => {
  it("stores the lease with Vault's id shape and the expiry and token indexes", async () => {
    const h = leaseHarness();
    const m = h.manager();
    const lease = await m.register({ ...creds, tokenKey: "tk1" });

    expect(lease.leaseId).toMatch(/^kubernetes\/creds\/demo\/[0-9A-Za-z]{24}$/);
    expect(lease).toMatchObject({
      mountPath: "kubernetes/",
      path: "creds/demo",
      kind: "secret",
      issueTime: T0 / 1000,
      expireTime: T0 / 1000 + 3600,
      ttl: 3600,
      maxExpireTime: 0,
      renewable: true,
      tokenKey: "tk1",
      internal: { serviceAccount: "demo-sa-x1" },
    });
    expect(await m.lookup(lease.leaseId)).toEqual(lease);

    const hash = leaseHash(lease.leaseId);
    expect(hash).toMatch(/^[0-9a-f]{32}$/);
    expect((await allKeys(h.storage)).sort()).toEqual(
      [`exp/${String(T0 + 3_600_000).padStart(13, "0")}/${hash}`, `id/${lease.leaseId}`, `tok/tk1/${hash}`].sort(),
    );
    expect(await h.storage.getJSON(`exp/${T0 + 3_600_000}/${hash}`)).toBe(lease.leaseId);
  });

  it("writes every key in one transaction", async () => {
    const h = leaseHarness();
    const { view, stats } = countingView(h.storage);
    await h.manager({ storage: view }).register({ ...creds, tokenKey: "tk1" });
    expect(stats.writesOutsideTransaction).toBe(0);
    expect(await allKeys(h.storage)).toHaveLength(3);
  });

  it("rejects a ttl that is not positive", async () => {
    const m = leaseHarness().manager();
    for (const ttl of [0, -5, Number.NaN]) {
      const err = await rejection(m.register({ ...creds, ttl }));
      expect(err.status).toBe(400);
      expect(err.message).toBe("lease ttl must be greater than zero");
    }
  });

  it("caps the first expiry at maxExpireTime", async () => {
    const m = leaseHarness().manager();
    const lease = await m.register({ ...creds, ttl: 3600, maxExpireTime: T0 / 1000 + 600 });
    expect(lease.expireTime).toBe(T0 / 1000 + 600);
    expect(lease.ttl).toBe(600);
  });

  it("keeps an explicit lease id and replaces an earlier lease with the same id", async () => {
    const h = leaseHarness();
    const m = h.manager();
    const leaseId = "auth/token/create/abc123";
    await m.register({ ...creds, mountPath: "auth/token/", path: "create", kind: "auth", leaseId, tokenKey: "old" });
    h.clock.advance(1000);
    const again = await m.register({ ...creds, mountPath: "auth/token/", path: "create", kind: "auth", leaseId, tokenKey: "new" });
    expect(again.leaseId).toBe(leaseId);
    expect((await allKeys(h.storage)).sort()).toEqual(
      [`exp/${T0 + 1000 + 3_600_000}/${leaseHash(leaseId)}`, `id/${leaseId}`, `tok/new/${leaseHash(leaseId)}`].sort(),
    );
  });

  it("returns undefined for an unknown lease", async () => {
    expect(await leaseHarness().manager().lookup("kubernetes/creds/demo/nope")).toBeUndefined();
  });

  it("places a lease directly under its mount when the path is empty", async () => {
    const lease = await leaseHarness().manager().register({ ...creds, path: "" });
    expect(lease.leaseId).toMatch(/^kubernetes\/[0-9A-Za-z]{24}$/);
  });
});

describe("renew", () => {
  it("asks the renewer and moves the expiry index", async () => {
    const h = leaseHarness();
    const m = h.manager();
    const lease = await m.register(creds);
    h.clock.advance(60_000);
    const renewed = await m.renew(lease.leaseId, 7200);

    expect(h.renewals).toEqual([{ lease, increment: 7200 }]);
    expect(renewed.expireTime).toBe((T0 + 60_000) / 1000 + 7200);
    expect(renewed.lastRenewalTime).toBe((T0 + 60_000) / 1000);
    expect(renewed.ttl).toBe(7200);
    expect(await m.lookup(lease.leaseId)).toEqual(renewed);
    const expiryKeys = await h.storage.scan("exp/");
    expect(expiryKeys).toEqual([`${T0 + 60_000 + 7_200_000}/${leaseHash(lease.leaseId)}`]);
  });

  it("uses the lease's ttl when no increment is given", async () => {
    const h = leaseHarness();
    const m = h.manager();
    const lease = await m.register(creds);
    await m.renew(lease.leaseId);
    expect(h.renewals[0].increment).toBe(3600);
  });

  it("caps the new expiry at maxExpireTime", async () => {
    const h = leaseHarness();
    const m = h.manager();
    const lease = await m.register({ ...creds, ttl: 600, maxExpireTime: T0 / 1000 + 1800 });
    const renewed = await m.renew(lease.leaseId, 7200);
    expect(renewed.expireTime).toBe(T0 / 1000 + 1800);
    expect(renewed.ttl).toBe(1800);
  });

  it("refuses unknown, non-renewable and expired leases with Vault's messages", async () => {
    const h = leaseHarness();
    const m = h.manager();
    const fixed = await m.register({ ...creds, renewable: false });
    const short = await m.register({ ...creds, ttl: 10 });

    const cases: [string, string][] = [
      ["kubernetes/creds/demo/missing", "lease not found"],
      [fixed.leaseId, "lease is not renewable"],
    ];
    for (const [leaseId, message] of cases) {
      const err = await rejection(m.renew(leaseId));
      expect([err.status, err.message]).toEqual([400, message]);
    }
    h.clock.advance(10_000);
    const err = await rejection(m.renew(short.leaseId));
    expect([err.status, err.message]).toEqual([400, "lease expired"]);
    expect(h.renewals).toEqual([]);
  });

  it("keeps the lease unchanged when the renewer fails", async () => {
    const h = leaseHarness();
    const m = h.manager({ renewer: failingWith("kubernetes API unavailable") });
    const lease = await m.register(creds);
    await expect(m.renew(lease.leaseId)).rejects.toThrow("kubernetes API unavailable");
    expect(await m.lookup(lease.leaseId)).toEqual(lease);
  });
});

describe("setExpiry", () => {
  it("moves the expiry without calling the renewer, capped at maxExpireTime", async () => {
    const h = leaseHarness();
    const m = h.manager();
    const lease = await m.register({ ...creds, maxExpireTime: T0 / 1000 + 5000 });
    await m.setExpiry(lease.leaseId, T0 / 1000 + 4000);
    expect((await m.lookup(lease.leaseId))?.expireTime).toBe(T0 / 1000 + 4000);
    await m.setExpiry(lease.leaseId, T0 / 1000 + 9000);
    expect((await m.lookup(lease.leaseId))?.expireTime).toBe(T0 / 1000 + 5000);
    expect(await h.storage.scan("exp/")).toEqual([`${T0 + 5_000_000}/${leaseHash(lease.leaseId)}`]);
    expect(h.renewals).toEqual([]);
  });

  it("refuses unknown and expired leases", async () => {
    const h = leaseHarness();
    const m = h.manager();
    expect((await rejection(m.setExpiry("auth/token/create/x", T0 / 1000 + 10))).message).toBe("lease not found");
    const lease = await m.register({ ...creds, ttl: 1 });
    h.clock.advance(1000);
    expect((await rejection(m.setExpiry(lease.leaseId, T0 / 1000 + 10))).message).toBe("lease expired");
  });
});

describe("revoke and forget", () => {
  it("calls the revoker with the lease, then deletes it and its index keys", async () => {
    const h = leaseHarness();
    const m = h.manager();
    const lease = await m.register({ ...creds, tokenKey: "tk1" });
    await m.revoke(lease.leaseId);
    expect(h.revoked).toEqual([lease]);
    expect(await allKeys(h.storage)).toEqual([]);
  });

  it("throws the revoker's error and keeps the lease", async () => {
    const h = leaseHarness();
    const m = h.manager({ revoker: failingWith("serviceaccount delete failed") });
    const lease = await m.register(creds);
    await expect(m.revoke(lease.leaseId)).rejects.toThrow("serviceaccount delete failed");
    expect(await m.lookup(lease.leaseId)).toEqual(lease);
  });

  it("does nothing for an unknown lease", async () => {
    const h = leaseHarness();
    await h.manager().revoke("kubernetes/creds/demo/none");
    expect(h.revoked).toEqual([]);
  });

  it("forget and register join a caller's transaction: nothing is written if it fails", async () => {
    const h = leaseHarness();
    const m = h.manager();
    await expect(
      h.storage.transaction(async (tx) => {
        await m.register({ ...creds, leaseId: "auth/token/create/k1", kind: "auth", authTokenKey: "k1" }, tx);
        throw new Error("token write failed");
      }),
    ).rejects.toThrow("token write failed");
    expect(await allKeys(h.storage)).toEqual([]);
    const lease = await m.register({ ...creds, tokenKey: "tk1" });
    await h.storage.transaction((tx) => m.forget(lease.leaseId, tx));
    expect(h.revoked).toEqual([]);
    expect(await allKeys(h.storage)).toEqual([]);
  });

  it("forgets auth leases whose token is gone, and only those, without revoking anything", async () => {
    const h = leaseHarness();
    const m = h.manager({ batchSize: 2 });
    const auth = (key: string) =>
      m.register({ mountPath: "auth/token/", path: "create", kind: "auth", ttl: 60, renewable: true, leaseId: `auth/kubernetes/login/${key}`, authTokenKey: key });
    for (const key of ["a", "b", "c", "d", "e"]) await auth(key);
    const secret = await m.register(creds);
    const forgotten = await m.forgetOrphanedAuthLeases(async (key) => key === "a" || key === "d");
    expect(forgotten).toBe(3);
    expect(await m.list("auth/kubernetes/login/")).toEqual(["a", "d"]);
    expect(await m.lookup(secret.leaseId)).toEqual(secret);
    expect(h.revoked).toEqual([]);
  });

  it("forget deletes without calling the revoker", async () => {
    const h = leaseHarness();
    const m = h.manager();
    const lease = await m.register({ ...creds, tokenKey: "tk1" });
    await m.forget(lease.leaseId);
    expect(h.revoked).toEqual([]);
    expect(await allKeys(h.storage)).toEqual([]);
  });
});

describe("revokePrefix", () => {
  async function populate() {
    const h = leaseHarness();
    const m = h.manager({ batchSize: 2 });
    const demo = await Promise.all([1, 2, 3].map(() => m.register(creds)));
    const other = await m.register({ ...creds, path: "creds/demo2" });
    const kv = await m.register({ ...creds, mountPath: "kv/", path: "data/x" });
    return { h, m, demo, other, kv };
  }

  it("revokes every lease under the prefix, read as a directory as Vault does", async () => {
    const { h, m, demo, other, kv } = await populate();
    expect(await m.revokePrefix("kubernetes/creds/demo")).toBe(3);
    expect(h.revoked.map((l) => l.leaseId).sort()).toEqual(demo.map((l) => l.leaseId).sort());
    expect(await m.lookup(other.leaseId)).toBeDefined();
    expect(await m.revokePrefix("kubernetes/")).toBe(1);
    expect(await m.lookup(kv.leaseId)).toBeDefined();
  });

  it("revokes exactly one lease when the prefix is a lease id", async () => {
    const { h, m, demo } = await populate();
    expect(await m.revokePrefix(demo[0].leaseId)).toBe(1);
    expect(h.revoked.map((l) => l.leaseId)).toEqual([demo[0].leaseId]);
  });

  it("stops at a failing revocation unless forced", async () => {
    const { h, m, demo } = await populate();
    const failing = h.manager({
      batchSize: 2,
      revoker: async (lease) => {
        if (lease.leaseId === demo[1].leaseId) throw new Error("backend refused");
        h.revoked.push(lease);
      },
    });
    await expect(failing.revokePrefix("kubernetes/creds/demo/")).rejects.toThrow("backend refused");
    expect(await m.lookup(demo[1].leaseId)).toBeDefined();

    expect(await failing.revokePrefix("kubernetes/creds/demo/", { force: true })).toBeGreaterThanOrEqual(1);
    expect(await m.list("kubernetes/creds/demo/")).toEqual([]);
    expect(h.logger.records).toContainEqual(
      expect.objectContaining({ level: "warn", msg: "lease revocation failed; forgetting the lease (force)" }),
    );
  });
});

describe("revokeByToken", () => {
  it("revokes the leases created by that token only", async () => {
    const h = leaseHarness();
    const m = h.manager({ batchSize: 2 });
    const mine = await Promise.all([1, 2, 3].map(() => m.register({ ...creds, tokenKey: "tk1" })));
    const theirs = await m.register({ ...creds, tokenKey: "tk2" });
    expect(await m.revokeByToken("tk1")).toBe(3);
    expect(h.revoked.map((l) => l.leaseId).sort()).toEqual(mine.map((l) => l.leaseId).sort());
    expect(await m.lookup(theirs.leaseId)).toBeDefined();
    expect(await h.storage.scan("tok/")).toEqual([`tk2/${leaseHash(theirs.leaseId)}`]);
  });

  it("queues a failing revocation for retry instead of failing the token's revocation", async () => {
    const h = leaseHarness();
    const m = h.manager({ revoker: failingWith("backend down") });
    const lease = await m.register({ ...creds, tokenKey: "tk1" });
    expect(await m.revokeByToken("tk1")).toBe(1);
    expect(await m.lookup(lease.leaseId)).toEqual(lease);
    expect(await h.storage.scan("retry/")).toHaveLength(1);
  });
});

describe("list", () => {
  it("returns the immediate children of a prefix", async () => {
    const h = leaseHarness();
    const m = h.manager();
    const a = await m.register(creds);
    await m.register({ ...creds, path: "creds/other" });
    await m.register({ ...creds, mountPath: "kv/" });
    expect(await m.list("")).toEqual(["kubernetes/", "kv/"]);
    expect(await m.list("kubernetes/creds")).toEqual(["demo/", "other/"]);
    expect(await m.list("kubernetes/creds/demo/")).toEqual([a.leaseId.split("/").pop()]);
    expect(await m.list("nothing/")).toEqual([]);
  });
});
