import { badRequest, internalError } from "../errors.js";
import { formatRequest, formatResponse } from "./format.js";
/** Vault mounts audit devices at paths with a trailing slash (`file/`). */
const normalise = (path) => path.replace(/^\/+|\/+$/g, "") + "/";
const errorMessage = (err) => (err instanceof Error ? err.message : String(err));
/**
 * Fans every request and response out to the enabled audit devices, each
 * hashed with its own salt. Vault's rule: with devices enabled, a request that
 * no device could record must fail, so nothing happens unaudited.
 */
export function createAuditBroker(deps) {
    const { logger } = deps;
    const now = deps.now ?? Date.now;
    const devices = new Map();
    function device(path) {
        const found = devices.get(normalise(path));
        if (!found)
            throw badRequest(`no audit device enabled at "${normalise(path)}"`, "LK_ERR_AUDIT_DEVICE_NOT_FOUND");
        return found;
    }
    async function broadcast(build) {
        if (devices.size === 0)
            return;
        const time = new Date(now()).toISOString();
        const targets = [...devices];
        const results = await Promise.allSettled(
        // Formatting runs per device (its salt) and inside the promise, so a bad entry fails like a bad write.
        targets.map(async ([, dev]) => dev.write(JSON.stringify(build(dev.hash, time)))));
        let failures = 0;
        results.forEach((result, i) => {
            if (result.status === "fulfilled")
                return;
            failures++;
            logger.warn({ path: targets[i][0], err: errorMessage(result.reason) }, "audit device failed to write an entry");
        });
        if (failures === targets.length) {
            logger.error({ devices: failures }, "no audit device could write the entry; failing the request");
            throw internalError("audit log failure: no audit device could write the entry", new AggregateError(results.map((r) => (r.status === "rejected" ? r.reason : undefined))));
        }
    }
    /** Stops writing to the device at `path` and closes it; false if there was none. */
    async function disable(path) {
        const key = normalise(path);
        const dev = devices.get(key);
        if (!dev)
            return false;
        devices.delete(key);
        await dev.close().catch((err) => logger.warn({ path: key, err: errorMessage(err) }, "audit device failed to close"));
        return true;
    }
    return {
        /** Opens the device first, so that an unusable destination fails here. */
        async enable(path, dev) {
            const key = normalise(path);
            if (devices.has(key))
                throw badRequest(`an audit device is already enabled at "${key}"`, "LK_ERR_AUDIT_PATH_IN_USE");
            await dev.open();
            devices.set(key, dev);
        },
        disable,
        list() {
            return [...devices]
                .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
                .map(([path, dev]) => ({ path, type: dev.type, description: dev.description, options: { ...dev.options } }));
        },
        logRequest: (entry) => broadcast((hash, time) => formatRequest(entry, hash, time)),
        logResponse: (entry) => broadcast((hash, time) => formatResponse(entry, hash, time)),
        /** Writes one raw line to one device; rejects with the device's error. */
        probe(path, line) {
            return device(path).write(line);
        },
        /** What `value` looks like in the log of the device at `path` (sys/audit-hash). */
        hash(path, value) {
            return device(path).hash(value);
        },
        /** Reopens every device's destination, after log rotation (SIGHUP). */
        async reopen() {
            await Promise.all([...devices].map(([path, dev]) => dev.reopen().catch((err) => logger.error({ path, err: errorMessage(err) }, "audit device failed to reopen"))));
        },
        async close() {
            for (const path of [...devices.keys()])
                await disable(path);
        },
    };
}
