import { describe, expect, it } from "vitest";
import type { LeaseEntry, LeaseRegistration } from "../types.js";
import { allKeys, deferred, failingWith, leaseHarness } from "./test-harness.js";

const creds: LeaseRegistration = { mountPath: "kubernetes/", path: "creds/demo", kind: "secret", ttl: 60, renewable: true };

/** Two managers on one storage, as an old leader still finishing its tick and the new leader starting one. */
function twoReplicas(claims: boolean) {
  const h = leaseHarness();
  const gate = deferred();
  const calls: { replica: string; lease: LeaseEntry }[] = [];
  const replica = (name: string) =>
    h.manager({
      claims: claims ? { replica: name } : undefined,
      revoker: async (lease) => {
        calls.push({ replica: name, lease });
        await gate.promise;
      },
    });
  const a = replica("a");
  const b = replica("b");
  /** Registers five leases, lets both managers tick once they are due, and returns both results. */
  const race = async () => {
    for (let i = 0; i < 5; i++) await a.register({ ...creds, path: `creds/demo-${i}` });
    h.clock.advance(61_000);
    const ticks = Promise.all([a.tick(), b.tick()]);
    await new Promise((resolve) => setTimeout(resolve, 20));
    gate.resolve();
    return ticks;
  };
  return { h, calls, race };
}

describe("revocation claims across replicas", () => {
  it("revokes each due lease once when two managers tick the same storage together", async () => {
    const { h, calls, race } = twoReplicas(true);
    const [ra, rb] = await race();
    expect(ra.revoked + rb.revoked).toBe(5);
    expect(calls).toHaveLength(5);
    expect(new Set(calls.map((c) => c.lease.leaseId)).size).toBe(5);
    // The claim is bookkeeping: the revoker never sees it, and nothing is left behind.
    for (const { lease } of calls) expect(lease).not.toHaveProperty("claim");
    expect(await allKeys(h.storage)).toEqual([]);
  });

  it("without claims the same race revokes leases twice (what the claims prevent)", async () => {
    const { calls, race } = twoReplicas(false);
    await race();
    expect(calls.length).toBeGreaterThan(5);
  });

  it("lets another replica revoke a lease whose claimant died once the claim is past its deadline", async () => {
    const h = leaseHarness();
    const calls: string[] = [];
    const never = new Promise<void>(() => undefined);
    // Replica a claims the lease and hangs in its revoker, as a replica killed mid-revocation.
    const a = h.manager({ claims: { replica: "a", ttlMs: 10_000 }, revoker: () => {
        calls.push("a");
        return never;
      },
    });
    const b = h.manager({ claims: { replica: "b", ttlMs: 10_000 }, revoker: async () => void calls.push("b") });
    await a.register(creds);
    h.clock.advance(61_000);
    void a.tick();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(calls).toEqual(["a"]);
    // Within the claim, b leaves the lease alone.
    expect(await b.tick()).toEqual({ revoked: 0, failed: 0 });
    expect(calls).toEqual(["a"]);
    // Past it, b revokes it and removes it.
    h.clock.advance(10_001);
    expect(await b.tick()).toEqual({ revoked: 1, failed: 0 });
    expect(calls).toEqual(["a", "b"]);
    expect(await allKeys(h.storage)).toEqual([]);
  });

  it("does not revoke again through another replica a lease the leader is revoking", async () => {
    const h = leaseHarness();
    const gate = deferred();
    const calls: string[] = [];
    const a = h.manager({
      claims: { replica: "a" },
      revoker: async () => {
        calls.push("a");
        await gate.promise;
      },
    });
    const b = h.manager({ claims: { replica: "b" }, revoker: async () => void calls.push("b") });
    const lease = await a.register(creds);
    h.clock.advance(61_000);
    const tick = a.tick();
    await new Promise((resolve) => setTimeout(resolve, 20));
    await b.revoke(lease.leaseId);
    gate.resolve();
    expect(await tick).toEqual({ revoked: 1, failed: 0 });
    expect(calls).toEqual(["a"]);
    expect(await allKeys(h.storage)).toEqual([]);
  });

  it("releases the claim of an explicit revocation that failed, so the lease stays on schedule", async () => {
    const h = leaseHarness();
    const b = h.manager({ claims: { replica: "b" }, revoker: failingWith("kubernetes API returned 503") });
    const a = h.manager({ claims: { replica: "a" } });
    const lease = await a.register(creds);
    await expect(b.revoke(lease.leaseId)).rejects.toThrow("503");
    h.clock.advance(61_000);
    expect(await a.tick()).toEqual({ revoked: 1, failed: 0 });
    expect(h.revoked.map((l) => l.leaseId)).toEqual([lease.leaseId]);
  });
});
