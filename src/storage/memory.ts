import type { PhysicalStore, PhysicalTx } from "./types.js";
import { compareKeys, listChildren, scanKeys } from "./keys.js";
import { createTxLock } from "./tx-lock.js";

/** In-memory physical store for tests and throwaway dev servers. */
export function createMemoryStore(): PhysicalStore {
  const data = new Map<string, Uint8Array>();
  const sortedKeys = () => [...data.keys()].sort(compareKeys);
  const exclusive = createTxLock();

  async function runTransaction<T>(fn: (tx: PhysicalTx) => Promise<T>): Promise<T> {
    const writes = new Map<string, Uint8Array | null>();
    const merged = () => {
      const keys = new Set(data.keys());
      for (const [k, v] of writes) (v ? keys.add(k) : keys.delete(k));
      return [...keys].sort(compareKeys);
    };
    const tx: PhysicalTx = {
      async get(key) {
        if (writes.has(key)) return writes.get(key) ?? undefined;
        return store.get(key);
      },
      async put(key, value) {
        writes.set(key, new Uint8Array(value));
      },
      async delete(key) {
        writes.set(key, null);
      },
      async list(prefix, after, limit) {
        return listChildren(merged(), prefix, after, limit);
      },
      async scan(prefix, after, limit) {
        return scanKeys(merged(), prefix, after, limit);
      },
    };
    const result = await fn(tx);
    for (const [k, v] of writes) (v ? data.set(k, v) : data.delete(k));
    return result;
  }

  const store: PhysicalStore = {
    async get(key) {
      const v = data.get(key);
      return v && new Uint8Array(v);
    },
    async put(key, value) {
      data.set(key, new Uint8Array(value));
    },
    async delete(key) {
      data.delete(key);
    },
    async list(prefix, after, limit) {
      return listChildren(sortedKeys(), prefix, after, limit);
    },
    async scan(prefix, after, limit) {
      return scanKeys(sortedKeys(), prefix, after, limit);
    },
    async transaction(fn) {
      const release = await exclusive();
      try {
        return await runTransaction(fn);
      } finally {
        release();
      }
    },
    async close() {},
  };
  return store;
}
