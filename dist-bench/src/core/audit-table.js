import { randomBytes } from "node:crypto";
import { createFileAuditDevice } from "./audit/file.js";
import { badRequest } from "./errors.js";
/** The persisted list of audit devices; devices are re-opened on every unseal. */
export function createAuditTable(broker, logger) {
    let entries = [];
    let view;
    const normalise = (path) => path.replace(/^\/+|\/+$/g, "") + "/";
    const open = (e) => broker.enable(e.path, createFileAuditDevice({
        path: e.options.file_path,
        salt: Buffer.from(e.salt, "base64"),
        mode: e.options.mode ? parseInt(e.options.mode, 8) : undefined,
        description: e.description,
    }));
    return {
        async load(storage) {
            view = storage;
            for (const e of entries)
                await broker.disable(e.path);
            entries = (await storage.getJSON("table")) ?? [];
            for (const e of entries) {
                try {
                    await open(e);
                }
                catch (err) {
                    logger.error({ err, path: e.path }, "could not open audit device");
                }
            }
        },
        list: () => entries.map(({ salt: _salt, ...rest }) => rest),
        async enable(path, params) {
            const p = normalise(path);
            if (entries.some((e) => e.path === p))
                throw badRequest(`an audit device is already enabled at "${p}"`);
            const entry = { path: p, ...params, salt: randomBytes(32).toString("base64") };
            await open(entry);
            // A destination that opens but cannot be written (a full disk) must fail the
            // enable, not every request after it: write one line before persisting.
            try {
                await broker.probe(p, JSON.stringify({ time: new Date().toISOString(), type: "audit-device-enabled", path: p }));
            }
            catch (err) {
                await broker.disable(p);
                const reason = err.code ?? "write failed";
                throw badRequest(`audit device "${p}" cannot write to ${params.options.file_path}: ${reason}`);
            }
            entries = [...entries, entry];
            await view?.putJSON("table", entries);
        },
        async disable(path) {
            const p = normalise(path);
            if (!entries.some((e) => e.path === p))
                throw badRequest(`no audit device enabled at "${p}"`);
            await broker.disable(p);
            entries = entries.filter((e) => e.path !== p);
            await view?.putJSON("table", entries);
        },
    };
}
