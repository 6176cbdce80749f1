import { describe, expect, it } from "vitest";
import { DEFAULT_EXEMPT_PATHS, type RateLimitQuota } from "../core/sys/quotas.js";
import { createInflightGate, createRateLimiter, governingQuota } from "./quotas.js";

const config = { rateLimitExemptPaths: DEFAULT_EXEMPT_PATHS, enableRateLimitResponseHeaders: false, enableRateLimitAuditLogging: false };
const quota = (q: Partial<RateLimitQuota>): RateLimitQuota => ({ name: "q", path: "", rate: 2, interval: 1, blockInterval: 0, ...q });

function limiter(quotas: RateLimitQuota[]) {
  let t = 1_000_000;
  const l = createRateLimiter({ current: async () => ({ quotas, config, version: 1 }) }, () => t);
  return { l, advance: (ms: number) => (t += ms) };
}

describe("rate-limit quotas", () => {
  it("allows rate requests per interval per client, then refuses with a retry time", async () => {
    const { l, advance } = limiter([quota({ rate: 3, interval: 10 })]);
    const verdicts = [];
    for (let i = 0; i < 5; i++) verdicts.push(await l.check("secret/data/a", "10.0.0.1"));
    expect(verdicts.map((v) => v.allowed)).toEqual([true, true, true, false, false]);
    const refused = verdicts[3];
    expect(refused.allowed === false && refused.retryAfterSeconds).toBe(4);
    // Another client has its own bucket.
    expect((await l.check("secret/data/a", "10.0.0.2")).allowed).toBe(true);
    advance(3400);
    expect((await l.check("secret/data/a", "10.0.0.1")).allowed).toBe(true);
    expect((await l.check("secret/data/a", "10.0.0.1")).allowed).toBe(false);
  });

  it("keeps a client blocked for block_interval", async () => {
    const { l, advance } = limiter([quota({ rate: 1, interval: 1, blockInterval: 30 })]);
    expect((await l.check("x/y", "c")).allowed).toBe(true);
    const v = await l.check("x/y", "c");
    expect(v.allowed === false && v.retryAfterSeconds).toBe(30);
    advance(5000);
    expect((await l.check("x/y", "c")).allowed).toBe(false);
    advance(26_000);
    expect((await l.check("x/y", "c")).allowed).toBe(true);
  });

  it("exempts Vault's default paths", async () => {
    const { l } = limiter([quota({ rate: 1 })]);
    for (let i = 0; i < 5; i++) expect((await l.check("sys/health", "c")).allowed).toBe(true);
  });

  it("picks the most specific quota", () => {
    const qs = [quota({ name: "global" }), quota({ name: "mount", path: "auth/kubernetes/" }), quota({ name: "login", path: "auth/kubernetes/login" })];
    expect(governingQuota(qs, "auth/kubernetes/login")?.name).toBe("login");
    expect(governingQuota(qs, "auth/kubernetes/role/x")?.name).toBe("mount");
    expect(governingQuota(qs, "auth/kubernetes-other/login")?.name).toBe("global");
    expect(governingQuota(qs.slice(1), "secret/data/x")).toBeUndefined();
  });

  it("the in-flight gate refuses beyond its cap and 0 is no cap", () => {
    const g = createInflightGate(2);
    expect([g.tryEnter(), g.tryEnter(), g.tryEnter()]).toEqual([true, true, false]);
    g.leave();
    expect(g.tryEnter()).toBe(true);
    const open = createInflightGate(0);
    for (let i = 0; i < 100; i++) expect(open.tryEnter()).toBe(true);
  });
});
