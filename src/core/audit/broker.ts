import { badRequest, internalError } from "../errors.js";
import type { Logger } from "../types.js";
import { formatRequest, formatResponse } from "./format.js";
import type { AuditDevice, AuditLine, AuditRequest, AuditResponse } from "./types.js";

export interface AuditDeviceInfo {
  path: string;
  type: string;
  description: string;
  options: Record<string, string>;
}

/** Vault mounts audit devices at paths with a trailing slash (`file/`). */
const normalise = (path: string) => path.replace(/^\/+|\/+$/g, "") + "/";

const errorMessage = (err: unknown) => (err instanceof Error ? err.message : String(err));

/**
 * Fans every request and response out to the enabled audit devices, each
 * hashed with its own salt. Vault's rule: with devices enabled, a request that
 * no device could record must fail, so nothing happens unaudited.
 */
export function createAuditBroker(deps: { logger: Logger; now?: () => number }) {
  const { logger } = deps;
  const now = deps.now ?? Date.now;
  const devices = new Map<string, AuditDevice>();

  function device(path: string): AuditDevice {
    const found = devices.get(normalise(path));
    if (!found) throw badRequest(`no audit device enabled at "${normalise(path)}"`, "LK_ERR_AUDIT_DEVICE_NOT_FOUND");
    return found;
  }

  async function broadcast(build: (hash: (value: string) => string, time: string) => AuditLine): Promise<void> {
    if (devices.size === 0) return;
    const time = new Date(now()).toISOString();
    const targets = [...devices];
    const results = await Promise.allSettled(
      // Formatting runs per device (its salt) and inside the promise, so a bad entry fails like a bad write.
      targets.map(async ([, dev]) => dev.write(JSON.stringify(build(dev.hash, time)))),
    );
    let failures = 0;
    results.forEach((result, i) => {
      if (result.status === "fulfilled") return;
      failures++;
      logger.warn({ path: targets[i][0], err: errorMessage(result.reason) }, "audit device failed to write an entry");
    });
    if (failures === targets.length) {
      logger.error({ devices: failures }, "no audit device could write the entry; failing the request");
      throw internalError(
        "audit log failure: no audit device could write the entry",
        new AggregateError(results.map((r) => (r.status === "rejected" ? r.reason : undefined))),
      );
    }
  }

  /** Stops writing to the device at `path` and closes it; false if there was none. */
  async function disable(path: string): Promise<boolean> {
    const key = normalise(path);
    const dev = devices.get(key);
    if (!dev) return false;
    devices.delete(key);
    await dev.close().catch((err: unknown) => logger.warn({ path: key, err: errorMessage(err) }, "audit device failed to close"));
    return true;
  }

  return {
    /** Opens the device first, so that an unusable destination fails here. */
    async enable(path: string, dev: AuditDevice): Promise<void> {
      const key = normalise(path);
      if (devices.has(key)) throw badRequest(`an audit device is already enabled at "${key}"`, "LK_ERR_AUDIT_PATH_IN_USE");
      await dev.open();
      devices.set(key, dev);
    },

    disable,

    /** Is any device enabled? Without one, callers need not build entries at all. */
    enabled: () => devices.size > 0,

    list(): AuditDeviceInfo[] {
      return [...devices]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([path, dev]) => ({ path, type: dev.type, description: dev.description, options: { ...dev.options } }));
    },

    logRequest: (entry: AuditRequest) => broadcast((hash, time) => formatRequest(entry, hash, time)),

    logResponse: (entry: AuditResponse) => broadcast((hash, time) => formatResponse(entry, hash, time)),

    /** Writes one raw line to one device; rejects with the device's error. */
    probe(path: string, line: string): Promise<void> {
      return device(path).write(line);
    },

    /** What `value` looks like in the log of the device at `path` (sys/audit-hash). */
    hash(path: string, value: string): string {
      return device(path).hash(value);
    },

    /** Reopens every device's destination, after log rotation (SIGHUP). */
    async reopen(): Promise<void> {
      await Promise.all(
        [...devices].map(([path, dev]) =>
          dev.reopen().catch((err: unknown) => logger.error({ path, err: errorMessage(err) }, "audit device failed to reopen")),
        ),
      );
    },

    async close(): Promise<void> {
      for (const path of [...devices.keys()]) await disable(path);
    },
  };
}

export type AuditBroker = ReturnType<typeof createAuditBroker>;
