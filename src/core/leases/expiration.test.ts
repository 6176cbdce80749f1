import { describe, expect, it } from "vitest";
import type { LeaseEntry, LeaseRegistration } from "../types.js";
import { RETRY_MAX_MS, leaseHash, retryDelayMs } from "./keys.js";
import { allKeys, countingView, deferred, leaseHarness, T0 } from "./test-harness.js";

const creds: LeaseRegistration = { mountPath: "kubernetes/", path: "creds/demo", kind: "secret", ttl: 60, renewable: true };

/** A revoker that fails its first `failures` calls for each lease, then succeeds. */
function flakyRevoker(failures: number, revoked: LeaseEntry[]) {
  const calls = new Map<string, number>();
  const revoker = async (lease: LeaseEntry) => {
    const n = (calls.get(lease.leaseId) ?? 0) + 1;
    calls.set(lease.leaseId, n);
    if (n <= failures) throw new Error(`kubernetes API returned 503 (attempt ${n})`);
    revoked.push(lease);
  };
  return { revoker, calls };
}

describe("expiration", () => {
  it("revokes a lease once it is due and deletes every key of it", async () => {
    const h = leaseHarness();
    const m = h.manager();
    const lease = await m.register({ ...creds, tokenKey: "tk1" });

    h.clock.advance(59_999);
    expect(await m.tick()).toEqual({ revoked: 0, failed: 0 });
    expect(h.revoked).toEqual([]);

    h.clock.advance(1);
    expect(await m.tick()).toEqual({ revoked: 1, failed: 0 });
    expect(h.revoked).toEqual([lease]);
    expect(await allKeys(h.storage)).toEqual([]);
  });

  it("processes a backlog larger than one batch in a single tick", async () => {
    const h = leaseHarness();
    const m = h.manager({ batchSize: 7 });
    await Promise.all(Array.from({ length: 50 }, (_, i) => m.register({ ...creds, ttl: 1 + (i % 5) })));
    await m.register({ ...creds, ttl: 3600 });
    h.clock.advance(10_000);
    expect(await m.tick()).toEqual({ revoked: 50, failed: 0 });
    expect(await h.storage.scan("id/")).toHaveLength(1);
  });

  it("revokes with bounded concurrency", async () => {
    const h = leaseHarness();
    let active = 0;
    let peak = 0;
    const m = h.manager({
      concurrency: 4,
      revoker: async () => {
        peak = Math.max(peak, ++active);
        await new Promise((r) => setTimeout(r, 2));
        active--;
      },
    });
    await Promise.all(Array.from({ length: 40 }, () => m.register(creds)));
    h.clock.advance(60_000);
    expect((await m.tick()).revoked).toBe(40);
    expect(peak).toBe(4);
  });

  it("never revokes the same lease twice at once", async () => {
    const h = leaseHarness();
    const gate = deferred();
    let calls = 0;
    const m = h.manager({
      revoker: async () => {
        calls++;
        await gate.promise;
      },
    });
    const lease = await m.register(creds);
    h.clock.advance(60_000);

    const ticking = m.tick();
    await new Promise((r) => setTimeout(r, 5));
    const explicit = m.revoke(lease.leaseId);
    const byPrefix = m.revokePrefix("kubernetes/");
    expect(await m.lookup(lease.leaseId)).toBeDefined();
    await new Promise((r) => setTimeout(r, 5));
    expect(calls).toBe(1);

    gate.resolve();
    expect(await ticking).toEqual({ revoked: 1, failed: 0 });
    await explicit;
    expect(await byPrefix).toBe(0);
    expect(calls).toBe(1);
    expect(await allKeys(h.storage)).toEqual([]);
  });
});

describe("a revoker that forgets its own lease", () => {
  // The token store does this: revoking a token (the auth lease's revoker) forgets the token's auth lease.
  function selfForgetting(then: (lease: LeaseEntry) => void) {
    const h = leaseHarness();
    const m = h.manager({
      revoker: async (lease) => {
        await m.forget(lease.leaseId);
        then(lease);
      },
    });
    return { h, m };
  }

  it("completes instead of waiting for itself, on expiry and on explicit revoke", async () => {
    const revoked: LeaseEntry[] = [];
    const { h, m } = selfForgetting((lease) => revoked.push(lease));
    const expiring = await m.register({ ...creds, kind: "auth", leaseId: "auth/token/create/k1", tokenKey: "k1" });
    const explicit = await m.register({ ...creds, kind: "auth", leaseId: "auth/token/create/k2", ttl: 3600 });
    h.clock.advance(60_000);
    expect(await m.tick()).toEqual({ revoked: 1, failed: 0 });
    await m.revoke(explicit.leaseId);
    expect(revoked).toEqual([expiring, explicit]);
    expect(await allKeys(h.storage)).toEqual([]);
  });

  it("is not queued for retry when its revoker forgot it and then failed", async () => {
    const { h, m } = selfForgetting(() => {
      throw new Error("token store hiccup");
    });
    await m.register({ ...creds, tokenKey: "k1" });
    const viaToken = await m.register({ ...creds, ttl: 3600, tokenKey: "k2" });
    h.clock.advance(60_000);
    expect(await m.tick()).toEqual({ revoked: 0, failed: 0 });
    expect(await m.revokeByToken("k2")).toBe(1);
    expect(await m.lookup(viaToken.leaseId)).toBeUndefined();
    expect(await allKeys(h.storage)).toEqual([]);
  });
});

describe("failed revocations", () => {
  it("retries with backoff and never drops the lease", async () => {
    const h = leaseHarness();
    const { revoker, calls } = flakyRevoker(2, h.revoked);
    const m = h.manager({ revoker });
    const lease = await m.register({ ...creds, tokenKey: "tk1" });
    const hash = leaseHash(lease.leaseId);

    h.clock.advance(60_000);
    expect(await m.tick()).toEqual({ revoked: 0, failed: 1 });
    expect(await m.lookup(lease.leaseId)).toEqual(lease);
    expect(await h.storage.scan("exp/")).toEqual([]);
    const [first] = await h.storage.scan("retry/");
    const firstAt = Number(first.slice(0, 13));
    expect(first.endsWith(`/${hash}`)).toBe(true);
    expect(firstAt - (T0 + 60_000)).toBeGreaterThanOrEqual(800);
    expect(firstAt - (T0 + 60_000)).toBeLessThanOrEqual(1200);
    expect(await h.storage.getJSON(`retry/${first}`)).toEqual({ leaseId: lease.leaseId, attempts: 1 });
    expect(h.logger.records).toContainEqual(
      expect.objectContaining({ level: "warn", msg: "lease revocation failed; will retry" }),
    );

    // Not before its time.
    h.clock.advance(799);
    expect(await m.tick()).toEqual({ revoked: 0, failed: 0 });
    expect(calls.get(lease.leaseId)).toBe(1);

    h.clock.advance(401);
    expect(await m.tick()).toEqual({ revoked: 0, failed: 1 });
    const [second] = await h.storage.scan("retry/");
    const secondDelay = Number(second.slice(0, 13)) - (T0 + 61_200);
    expect(secondDelay).toBeGreaterThanOrEqual(1600);
    expect(secondDelay).toBeLessThanOrEqual(2400);
    expect(await h.storage.getJSON(`retry/${second}`)).toEqual({ leaseId: lease.leaseId, attempts: 2 });

    // Renewal of a lease waiting for revocation is refused.
    await expect(m.renew(lease.leaseId)).rejects.toThrow("lease expired");

    h.clock.advance(2400);
    expect(await m.tick()).toEqual({ revoked: 1, failed: 0 });
    expect(calls.get(lease.leaseId)).toBe(3);
    expect(h.revoked).toEqual([lease]);
    expect(await allKeys(h.storage)).toEqual([]);
  });

  it("an explicit revoke of a lease waiting for retry clears its retry key", async () => {
    const h = leaseHarness();
    const { revoker } = flakyRevoker(1, h.revoked);
    const m = h.manager({ revoker });
    const lease = await m.register({ ...creds, tokenKey: "tk1" });
    h.clock.advance(60_000);
    await m.tick();
    await m.revoke(lease.leaseId);
    expect(await allKeys(h.storage)).toEqual([]);
  });

  it("backs off 1 s doubling with jitter, capped at 10 minutes", () => {
    expect(retryDelayMs(1, () => 0.5)).toBe(1000);
    expect(retryDelayMs(2, () => 0.5)).toBe(2000);
    expect(retryDelayMs(5, () => 0.5)).toBe(16_000);
    expect(retryDelayMs(1, () => 0)).toBe(800);
    expect(retryDelayMs(1, () => 1)).toBe(1200);
    expect(retryDelayMs(10, () => 0.5)).toBe(512_000);
    expect(retryDelayMs(11, () => 0.5)).toBe(RETRY_MAX_MS);
    expect(retryDelayMs(500, () => 1)).toBe(RETRY_MAX_MS);
  });
});

describe("restart", () => {
  it("a new manager on the same storage revokes what is due and what is pending retry", async () => {
    const h = leaseHarness();
    const first = h.manager({ revoker: flakyRevoker(1, h.revoked).revoker });
    const failed = await first.register({ ...creds, ttl: 10 });
    const due = await first.register({ ...creds, ttl: 120 });
    const later = await first.register({ ...creds, ttl: 3600 });
    h.clock.advance(10_000);
    expect(await first.tick()).toEqual({ revoked: 0, failed: 1 });
    await first.stop();

    const second = h.manager();
    h.clock.advance(120_000);
    expect(await second.tick()).toEqual({ revoked: 2, failed: 0 });
    expect(h.revoked.map((l) => l.leaseId).sort()).toEqual([failed.leaseId, due.leaseId].sort());
    expect(await second.list("kubernetes/creds/demo/")).toEqual([later.leaseId.split("/").pop()]);
  });
});

describe("work per tick", () => {
  it("is proportional to what is due, not to what exists", async () => {
    const h = leaseHarness();
    const setup = h.manager();
    const future: Promise<LeaseEntry>[] = [];
    for (let i = 0; i < 10_000; i++) future.push(setup.register({ ...creds, ttl: 3600 + i }));
    await Promise.all(future);
    const due = await Promise.all(Array.from({ length: 5 }, (_, i) => setup.register({ ...creds, ttl: 10 + i })));
    h.clock.advance(20_000);

    const { view, stats } = countingView(h.storage);
    const m = h.manager({ storage: view, batchSize: 100 });
    expect(await m.tick()).toEqual({ revoked: 5, failed: 0 });

    // Two reads per due lease (index value, lease) and nothing else.
    const dueIds = due.map((l) => l.leaseId);
    expect(stats.reads).toHaveLength(10);
    for (const key of stats.reads) {
      expect(key.startsWith("id/") ? dueIds.includes(key.slice(3)) : dueIds.some((id) => key.endsWith(leaseHash(id)))).toBe(true);
    }
    // One page of the expiry index (which stops at the first future key) and an empty retry queue.
    expect(stats.scannedKeys).toBeLessThanOrEqual(100);
    expect(stats.writesOutsideTransaction).toBe(0);
    expect(await h.storage.scan("id/")).toHaveLength(10_000);

    // A tick with nothing due reads no values at all.
    stats.reads.length = 0;
    stats.scannedKeys = 0;
    expect(await m.tick()).toEqual({ revoked: 0, failed: 0 });
    expect(stats.reads).toEqual([]);
    expect(stats.scannedKeys).toBeLessThanOrEqual(100);
  });
});

describe("start and stop", () => {
  it("the timer expires leases and stop waits for revocations in flight", async () => {
    const h = leaseHarness();
    let finished = 0;
    const m = h.manager({
      tickMs: 5,
      revoker: async () => {
        await new Promise((r) => setTimeout(r, 30));
        finished++;
      },
    });
    await Promise.all(Array.from({ length: 3 }, () => m.register(creds)));
    h.clock.advance(60_000);
    m.start();
    m.start();
    const deadline = Date.now() + 2000;
    while (finished === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1));
    await m.stop();
    expect(finished).toBe(3);
    expect(await h.storage.scan("id/")).toEqual([]);
  });

  it("logs a tick that fails and keeps ticking", async () => {
    const h = leaseHarness();
    let scans = 0;
    const broken = {
      ...h.storage,
      scan: async () => {
        scans++;
        throw new Error("database is locked");
      },
    };
    const m = h.manager({ storage: broken, tickMs: 2 });
    m.start();
    const deadline = Date.now() + 2000;
    while (scans < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1));
    await m.stop();
    expect(scans).toBeGreaterThanOrEqual(2);
    expect(h.logger.records).toContainEqual({
      level: "error",
      obj: { err: "database is locked" },
      msg: "lease expiration tick failed",
    });
  });
});
