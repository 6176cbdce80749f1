import { describe, expect, it } from "vitest";
import { createMemoryStore } from "../../storage/memory.js";
import { createView } from "../../storage/view.js";
import { LocalInvalidationBus, type Invalidation } from "../invalidation.js";
import { createQuotaStore, type RateLimitQuota } from "./quotas.js";

const quota = (name: string, rate = 5): RateLimitQuota => ({ name, path: "", rate, interval: 1, blockInterval: 0 });

/**
 * Two replicas' quota stores on one physical store, their buses bridged as
 * LISTEN/NOTIFY bridges them. `hold(i)` holds replica i's folder listings
 * until released, to interleave its load with the other replica's write.
 */
function twoReplicas() {
  const physical = createMemoryStore();
  const listings = [0, 0];
  const gates: (Promise<void> | undefined)[] = [undefined, undefined];
  const buses = [new LocalInvalidationBus(), new LocalInvalidationBus()];
  const published: Invalidation[] = [];
  const stores = buses.map((bus, i) => {
    const barrier = {
      isSealed: () => false,
      view: (prefix: string) => {
        const view = createView(physical, prefix);
        return {
          ...view,
          list: async (p: string, after?: string, limit?: number) => {
            listings[i]++;
            const found = await view.list(p, after, limit);
            await gates[i];
            return found;
          },
        };
      },
    };
    const store = createQuotaStore(barrier, {
      publish: (ev) => {
        published.push(ev);
        bus.publish(ev);
        buses[1 - i].deliver(ev);
      },
    });
    bus.subscribe((ev) => store.invalidated(ev));
    return store;
  });
  return {
    stores,
    listings,
    published,
    hold(i: number) {
      let release = () => {};
      gates[i] = new Promise((resolve) => (release = resolve));
      return () => {
        gates[i] = undefined;
        release();
      };
    },
  };
}

describe("quotas across replicas", () => {
  it("a write on one replica is in force on the other at its next check; the writer keeps its own copy", async () => {
    const { stores, listings, published } = twoReplicas();
    const [a, b] = stores;
    expect((await b.current())?.quotas).toEqual([]);
    await a.put(quota("global"));
    expect(published).toEqual([{ kind: "quotas" }]);
    expect((await b.current())?.quotas).toEqual([quota("global")]);
    const readsByA = listings[0];
    expect((await a.current())?.quotas).toEqual([quota("global")]);
    expect(listings[0]).toBe(readsByA);

    await a.delete("global");
    expect((await b.current())?.quotas).toEqual([]);
    await b.putConfig({ rateLimitExemptPaths: ["sys/health"], enableRateLimitResponseHeaders: true, enableRateLimitAuditLogging: false });
    expect((await a.config()).enableRateLimitResponseHeaders).toBe(true);
    expect(published).toHaveLength(3);
  });

  it("changes the version the enforcer keys its buckets on, so buckets of a changed quota start full", async () => {
    const { stores } = twoReplicas();
    const [a, b] = stores;
    const before = (await b.current())!.version;
    await a.put(quota("global", 1));
    expect((await b.current())!.version).not.toBe(before);
  });

  it("does not keep a load that began before another replica's change", async () => {
    const { stores, hold } = twoReplicas();
    const [a, b] = stores;
    const release = hold(1);
    const loading = b.current();
    // The write lands, and its invalidation arrives, while B's read of the old state is in flight.
    await a.put(quota("late"));
    release();
    expect((await loading)?.quotas).toEqual([quota("late")]);
    expect((await b.current())?.quotas).toEqual([quota("late")]);
  });

  it("drops everything on an `all` invalidation (a replica that missed messages)", async () => {
    const { stores, listings } = twoReplicas();
    const [a] = stores;
    await a.current();
    const reads = listings[0];
    a.invalidated({ kind: "all" });
    await a.current();
    expect(listings[0]).toBe(reads + 1);
    a.invalidated({ kind: "token", id: "x" });
    await a.current();
    expect(listings[0]).toBe(reads + 1);
  });
});
