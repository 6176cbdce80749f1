import { open } from "node:fs/promises";
import { internalError } from "../errors.js";
import { hashValue } from "./hash.js";
/** Vault's `file` audit device: one JSON line per entry, appended. */
export function createFileAuditDevice(opts) {
    if (opts.salt.length < 16)
        throw internalError("audit device salt must be at least 16 bytes");
    const salt = Uint8Array.from(opts.salt);
    const mode = opts.mode ?? 0o600;
    const sink = opts.path === "stdout" ? stdoutSink() : opts.path === "discard" ? discardSink() : fileSink(opts.path, mode);
    return {
        type: "file",
        description: opts.description ?? "",
        options: { file_path: opts.path, mode: mode.toString(8).padStart(4, "0") },
        hash: (value) => hashValue(salt, value),
        ...sink,
    };
}
/**
 * Appends through one O_APPEND handle. Writes queue while one is in progress and
 * go out together in the next write, so lines never interleave and a busy
 * server makes few syscalls; every caller still learns whether its line landed.
 */
function fileSink(filePath, mode) {
    let handle;
    let pending = [];
    let flushQueued = false;
    let chain = Promise.resolve();
    /** Runs `fn` after everything queued before it: writes, reopen and close never overlap. */
    const serial = (fn) => {
        const run = chain.then(fn);
        chain = run.catch(() => undefined);
        return run;
    };
    async function openHandle() {
        const h = await open(filePath, "a", mode === 0 ? 0o600 : mode);
        try {
            // Like Vault, an existing file is brought to the configured mode too.
            if (mode !== 0)
                await h.chmod(mode);
        }
        catch (err) {
            await h.close();
            throw err;
        }
        return h;
    }
    async function closeHandle() {
        const h = handle;
        handle = undefined;
        await h?.close();
    }
    async function flush() {
        flushQueued = false;
        const batch = pending;
        pending = [];
        try {
            handle ??= await openHandle();
            const bytes = Buffer.from(batch.map((p) => p.line + "\n").join(""));
            for (let offset = 0; offset < bytes.length;) {
                offset += (await handle.write(bytes, offset, bytes.length - offset)).bytesWritten;
            }
            for (const p of batch)
                p.resolve();
        }
        catch (err) {
            for (const p of batch)
                p.reject(err);
            // Start over with a fresh handle (full disk, replaced mount) on the next write.
            await closeHandle().catch(() => undefined);
        }
    }
    return {
        open: () => serial(async () => void (handle ??= await openHandle())),
        write: (line) => new Promise((resolve, reject) => {
            pending.push({ line, resolve, reject });
            if (!flushQueued) {
                flushQueued = true;
                void serial(flush);
            }
        }),
        reopen: () => serial(async () => {
            await closeHandle();
            handle = await openHandle();
        }),
        close: () => serial(closeHandle),
    };
}
function stdoutSink() {
    const noop = async () => { };
    return {
        open: noop,
        write: (line) => new Promise((resolve, reject) => process.stdout.write(line + "\n", (err) => (err ? reject(err) : resolve()))),
        reopen: noop,
        close: noop,
    };
}
function discardSink() {
    const noop = async () => { };
    return { open: noop, write: noop, reopen: noop, close: noop };
}
