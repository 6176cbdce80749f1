import { createMemoryStore } from "../../storage/memory.js";
import type { StorageView } from "../../storage/types.js";
import { createView } from "../../storage/view.js";
import type { LeaseEntry, Logger } from "../types.js";
import { createLeaseManager, type LeaseManagerDeps } from "./manager.js";

export interface LogRecord {
  level: "debug" | "info" | "warn" | "error";
  obj: object | string;
  msg?: string;
}

export function recordingLogger(): Logger & { records: LogRecord[] } {
  const records: LogRecord[] = [];
  const at = (level: LogRecord["level"]) => (obj: object | string, msg?: string) => void records.push({ level, obj, msg });
  return { records, debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

/** A view that records every read and every key a scan or list returns, to prove how much a tick touches. */
export function countingView(inner: StorageView) {
  const stats = { reads: [] as string[], scannedKeys: 0, writesOutsideTransaction: 0 };
  const view: StorageView = {
    async get(key) {
      stats.reads.push(key);
      return inner.get(key);
    },
    async getJSON<T>(key: string) {
      stats.reads.push(key);
      return inner.getJSON<T>(key);
    },
    async put(key, value) {
      stats.writesOutsideTransaction++;
      return inner.put(key, value);
    },
    async putJSON(key, value) {
      stats.writesOutsideTransaction++;
      return inner.putJSON(key, value);
    },
    async delete(key) {
      stats.writesOutsideTransaction++;
      return inner.delete(key);
    },
    async list(prefix, after, limit) {
      const keys = await inner.list(prefix, after, limit);
      stats.scannedKeys += keys.length;
      return keys;
    },
    async scan(prefix, after, limit) {
      const keys = await inner.scan(prefix, after, limit);
      stats.scannedKeys += keys.length;
      return keys;
    },
    transaction: (fn) => inner.transaction(fn),
    sub: (prefix) => inner.sub(prefix),
  };
  return { view, stats };
}

export const T0 = 1_700_000_000_000;

/**
 * A fake clock, a memory-backed view and a revoker that records what it was
 * given; `manager()` builds a lease manager over them (call it again for a
 * "restart" on the same storage).
 */
export function leaseHarness() {
  let time = T0;
  const clock = {
    now: () => time,
    advance: (ms: number) => void (time += ms),
  };
  const storage = createView(createMemoryStore(), "sys/expire/");
  const revoked: LeaseEntry[] = [];
  const renewals: { lease: LeaseEntry; increment: number }[] = [];
  const logger = recordingLogger();
  const manager = (deps: Partial<LeaseManagerDeps> = {}) =>
    createLeaseManager({
      storage,
      logger,
      now: clock.now,
      revoker: async (lease) => void revoked.push(lease),
      renewer: async (lease, increment) => {
        renewals.push({ lease, increment });
        return { ttl: increment };
      },
      ...deps,
    });
  return { clock, storage, revoked, renewals, logger, manager };
}

/** Every key in the view (to assert that nothing is left behind). */
export const allKeys = (storage: StorageView) => storage.scan("");

export function deferred() {
  let resolve = () => {};
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** A revoker or renewer that always fails with `message`. */
export const failingWith = (message: string) => async (): Promise<never> => {
  throw new Error(message);
};
