import { open, type FileHandle } from "node:fs/promises";
import { internalError } from "../errors.js";
import { hashValue } from "./hash.js";
import type { AuditDevice } from "./types.js";

export interface FileAuditDeviceOptions {
  /** A file path, or Vault's special values `stdout` and `discard`. */
  path: string;
  /** HMAC key of this device; the core keeps it (encrypted) so hashes stay stable across restarts. */
  salt: Uint8Array;
  /** Default 0o600; 0 leaves the mode of an existing file alone (Vault's `mode=0000`). */
  mode?: number;
  description?: string;
}

type Sink = Pick<AuditDevice, "open" | "write" | "reopen" | "close">;

/** Vault's `file` audit device: one JSON line per entry, appended. */
export function createFileAuditDevice(opts: FileAuditDeviceOptions): AuditDevice {
  if (opts.salt.length < 16) throw internalError("audit device salt must be at least 16 bytes");
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

interface Pending {
  line: string;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * Appends through one O_APPEND handle. Writes queue while one is in progress and
 * go out together in the next write, so lines never interleave and a busy
 * server makes few syscalls; every caller still learns whether its line landed.
 */
function fileSink(filePath: string, mode: number): Sink {
  let handle: FileHandle | undefined;
  let pending: Pending[] = [];
  let flushQueued = false;
  let chain: Promise<void> = Promise.resolve();

  /** Runs `fn` after everything queued before it: writes, reopen and close never overlap. */
  const serial = (fn: () => Promise<void>) => {
    const run = chain.then(fn);
    chain = run.catch(() => undefined);
    return run;
  };

  async function openHandle(): Promise<FileHandle> {
    const h = await open(filePath, "a", mode === 0 ? 0o600 : mode);
    try {
      // Like Vault, an existing file is brought to the configured mode too.
      if (mode !== 0) await h.chmod(mode);
    } catch (err) {
      await h.close();
      throw err;
    }
    return h;
  }

  async function closeHandle(): Promise<void> {
    const h = handle;
    handle = undefined;
    await h?.close();
  }

  async function flush(): Promise<void> {
    flushQueued = false;
    const batch = pending;
    pending = [];
    try {
      handle ??= await openHandle();
      const bytes = Buffer.from(batch.map((p) => p.line + "\n").join(""));
      for (let offset = 0; offset < bytes.length; ) {
        offset += (await handle.write(bytes, offset, bytes.length - offset)).bytesWritten;
      }
      for (const p of batch) p.resolve();
    } catch (err) {
      for (const p of batch) p.reject(err);
      // Start over with a fresh handle (full disk, replaced mount) on the next write.
      await closeHandle().catch(() => undefined);
    }
  }

  return {
    open: () => serial(async () => void (handle ??= await openHandle())),
    write: (line) =>
      new Promise<void>((resolve, reject) => {
        pending.push({ line, resolve, reject });
        if (!flushQueued) {
          flushQueued = true;
          void serial(flush);
        }
      }),
    reopen: () =>
      serial(async () => {
        await closeHandle();
        handle = await openHandle();
      }),
    close: () => serial(closeHandle),
  };
}

function stdoutSink(): Sink {
  const noop = async () => {};
  return {
    open: noop,
    write: (line) =>
      new Promise<void>((resolve, reject) => process.stdout.write(line + "\n", (err) => (err ? reject(err) : resolve()))),
    reopen: noop,
    close: noop,
  };
}

function discardSink(): Sink {
  const noop = async () => {};
  return { open: noop, write: noop, reopen: noop, close: noop };
}
