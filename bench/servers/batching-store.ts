import type { PhysicalStore, PhysicalTx } from "../../src/storage/types.js";

/**
 * A PhysicalStore that groups the commits of many small transactions into one
 * transaction of `inner` every `groupSize` commits. The keys and encrypted
 * values written are exactly those of the transactions it is given; only the
 * number of SQLite commits changes, which is what makes writing a million
 * tokens take a minute instead of many. For set-up processes only: a crash
 * loses the buffered group.
 */
export function createBatchingStore(inner: PhysicalStore, groupSize = 2000): PhysicalStore & { flush(): Promise<void> } {
  /** Committed but not yet written: value, or null for a delete. */
  let pending = new Map<string, Uint8Array | null>();
  let commits = 0;

  async function flush(): Promise<void> {
    if (pending.size === 0) return;
    const writes = pending;
    pending = new Map();
    commits = 0;
    await inner.transaction(async (tx) => {
      for (const [key, value] of writes) {
        if (value) await tx.put(key, value);
        else await tx.delete(key);
      }
    });
  }

  async function read(key: string, own?: Map<string, Uint8Array | null>): Promise<Uint8Array | undefined> {
    for (const layer of own ? [own, pending] : [pending]) {
      const value = layer.get(key);
      if (value !== undefined) return value ?? undefined;
    }
    return inner.get(key);
  }

  // Listing must see every write; flushing first is simpler than merging ranges, and set-up rarely lists.
  const list: PhysicalStore["list"] = async (prefix, after, limit) => (await flush(), inner.list(prefix, after, limit));
  const scan: PhysicalStore["scan"] = async (prefix, after, limit) => (await flush(), inner.scan(prefix, after, limit));

  return {
    get: (key) => read(key),
    put: async (key, value) => void pending.set(key, new Uint8Array(value)),
    delete: async (key) => void pending.set(key, null),
    list,
    scan,
    async transaction(fn) {
      const own = new Map<string, Uint8Array | null>();
      const tx: PhysicalTx = {
        get: (key) => read(key, own),
        put: async (key, value) => void own.set(key, new Uint8Array(value)),
        delete: async (key) => void own.set(key, null),
        list: async (prefix, after, limit) => {
          if (own.size > 0) throw new Error("batching store: list inside a transaction with writes is not supported");
          return list(prefix, after, limit);
        },
        scan: async (prefix, after, limit) => {
          if (own.size > 0) throw new Error("batching store: scan inside a transaction with writes is not supported");
          return scan(prefix, after, limit);
        },
      };
      const result = await fn(tx);
      for (const [key, value] of own) pending.set(key, value);
      if (++commits >= groupSize) await flush();
      return result;
    },
    flush,
    async close() {
      await flush();
      await inner.close();
    },
  };
}
