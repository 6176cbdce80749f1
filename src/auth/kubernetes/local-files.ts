import { readFile } from "node:fs/promises";

export const DEFAULT_TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount/token";
export const DEFAULT_CA_PATH = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";

/** The kubelet rotates the projected token well before it expires; re-reading every minute follows it. */
const TOKEN_MAX_AGE_MS = 60_000;
const CA_MAX_AGE_MS = 3_600_000;

/** The server's own service-account token and CA, as mounted into its pod; `undefined` when not running in one. */
export interface LocalServiceAccountFiles {
  token(): Promise<string | undefined>;
  caCert(): Promise<string | undefined>;
}

export interface LocalFilesOptions {
  tokenPath?: string;
  caPath?: string;
  /** Milliseconds. */
  now?: () => number;
  read?: (path: string) => Promise<string>;
}

export function createLocalServiceAccountFiles(opts: LocalFilesOptions = {}): LocalServiceAccountFiles {
  const now = opts.now ?? Date.now;
  const read = opts.read ?? ((path: string) => readFile(path, "utf8"));
  const token = refreshingFile(opts.tokenPath ?? DEFAULT_TOKEN_PATH, TOKEN_MAX_AGE_MS, now, read);
  const caCert = refreshingFile(opts.caPath ?? DEFAULT_CA_PATH, CA_MAX_AGE_MS, now, read);
  return { token, caCert };
}

/**
 * A file's content, read again once it is older than `maxAgeMs`. A missing or
 * unreadable file is `undefined` (and is looked for again on the same
 * schedule); concurrent callers share one read.
 */
function refreshingFile(
  path: string,
  maxAgeMs: number,
  now: () => number,
  read: (path: string) => Promise<string>,
): () => Promise<string | undefined> {
  let cached: { at: number; value: string | undefined } | undefined;
  let pending: Promise<string | undefined> | undefined;
  return () => {
    if (cached && now() - cached.at < maxAgeMs) return Promise.resolve(cached.value);
    pending ??= read(path)
      .then(
        (text) => text.trim() || undefined,
        () => undefined,
      )
      .then((value) => {
        cached = { at: now(), value };
        pending = undefined;
        return value;
      });
    return pending;
  };
}
