import { randomBytes } from "node:crypto";
import { createMemoryStore } from "../../storage/memory.js";
import { createView } from "../../storage/view.js";
import type { LeaseEntry, LeaseManager, LeaseRegistration } from "../types.js";
import type { InvalidationBus } from "../invalidation.js";
import type { TokenCacheOptions } from "./cache.js";
import { createTokenStore } from "./store.js";

type TokenLeases = Pick<LeaseManager, "register" | "setExpiry" | "forget" | "revokeByToken">;

/** A lease manager that records what the token store asks of it. For unit tests. */
export function fakeLeases() {
  const calls = {
    register: [] as LeaseRegistration[],
    setExpiry: [] as Array<{ leaseId: string; expireTime: number }>,
    forget: [] as string[],
    revokeByToken: [] as string[],
  };
  const leases: TokenLeases = {
    async register(reg) {
      calls.register.push(reg);
      const lease: LeaseEntry = {
        leaseId: reg.leaseId ?? `${reg.mountPath}${reg.path}/generated`,
        mountPath: reg.mountPath,
        path: reg.path,
        kind: reg.kind,
        issueTime: 0,
        expireTime: reg.ttl,
        ttl: reg.ttl,
        maxExpireTime: reg.maxExpireTime ?? 0,
        renewable: reg.renewable,
        internal: reg.internal ?? {},
        authTokenKey: reg.authTokenKey,
      };
      return lease;
    },
    async setExpiry(leaseId, expireTime) {
      calls.setExpiry.push({ leaseId, expireTime });
    },
    async forget(leaseId) {
      calls.forget.push(leaseId);
    },
    async revokeByToken(tokenKey) {
      calls.revokeByToken.push(tokenKey);
      return 0;
    },
  };
  return { leases, calls };
}

/** The value, or a test failure naming what was missing. */
export function must<T>(value: T | undefined, what = "value"): T {
  if (value === undefined) throw new Error(`expected a ${what}`);
  return value;
}

export const START_SECONDS = 1_700_000_000;

/** A token store over a memory store, with a fake clock, a rotatable batch key and recorded lease calls. */
export function tokenHarness(
  opts: {
    physical?: ReturnType<typeof createMemoryStore>;
    hmacKey?: Uint8Array;
    invalidations?: InvalidationBus;
    cache?: TokenCacheOptions;
    onRevoke?: (tokenKey: string) => Promise<void>;
  } = {},
) {
  const physical = opts.physical ?? createMemoryStore();
  let nowMs = START_SECONDS * 1000;
  let batch = { term: 1, key: new Uint8Array(randomBytes(32)) };
  const { leases, calls } = fakeLeases();
  const sys = createView(physical, "sys/");
  const tokens = createTokenStore({
    storage: sys.sub("token/"),
    transaction: (fn) => sys.transaction((tx) => fn(tx.sub("token/"), tx.sub("expire/"))),
    hmacKey: opts.hmacKey ?? randomBytes(32),
    batchKey: () => batch,
    leases,
    now: () => nowMs,
    invalidations: opts.invalidations,
    cache: opts.cache,
    onRevoke: opts.onRevoke,
  });
  return {
    physical,
    tokens,
    calls,
    advance(seconds: number) {
      nowMs += seconds * 1000;
    },
    rotateBatchKey() {
      batch = { term: batch.term + 1, key: new Uint8Array(randomBytes(32)) };
    },
    /** Every physical key and value, values decoded as text. */
    async dump(): Promise<Array<[string, string]>> {
      const keys = await physical.scan("");
      const decoder = new TextDecoder();
      return Promise.all(keys.map(async (k) => [k, decoder.decode(await physical.get(k))] as [string, string]));
    },
    root: () => tokens.create({ policies: ["root"], path: "auth/token/root", displayName: "root", noParent: true }),
  };
}
