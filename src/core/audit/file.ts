import { open, type FileHandle } from "node:fs/promises";
import { badRequest, internalError } from "../errors.js";
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

/**
 * Vault's `mode` option: an octal string, `"0600"` or `"600"`. Vault's
 * ParseUint would take `"0999"` as an error too; latchkey also refuses bits
 * above 0777 (setuid and friends make no sense on a log). Returns the mode
 * and its canonical four-digit spelling.
 */
export function parseFileMode(value: unknown): { mode: number; text: string } {
  if (typeof value !== "string" || !/^0*[0-7]{1,3}$/.test(value)) {
    throw badRequest('audit option "mode" must be an octal file mode such as "0600"', "LK_ERR_AUDIT_OPTION");
  }
  const mode = parseInt(value, 8);
  return { mode, text: mode.toString(8).padStart(4, "0") };
}

/** Errors of open(2) that mean the configured path is wrong, not that latchkey is. */
const PATH_ERRORS: Record<string, string> = {
  EISDIR: "is a directory",
  ENOENT: "is in a directory that does not exist",
  ENOTDIR: "has a parent that is not a directory",
  EACCES: "is not writable by latchkey",
  EPERM: "is not writable by latchkey",
  EROFS: "is on a read-only file system",
  ELOOP: "has too many symbolic links",
  ENAMETOOLONG: "is too long",
};

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

  /** Enabling a device with a bad path is the operator's mistake: 400 naming the option. */
  async function openOnEnable(): Promise<FileHandle> {
    try {
      return await openHandle();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? "";
      const why = PATH_ERRORS[code];
      if (!why) throw err;
      throw badRequest(`audit option "file_path" ${JSON.stringify(filePath)} ${why} (${code})`, "LK_ERR_AUDIT_OPTION");
    }
  }

  return {
    open: () => serial(async () => void (handle ??= await openOnEnable())),
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
