import { badRequest } from "../../core/errors.js";
import type { StorageView } from "../../storage/types.js";

/**
 * Storage layout of a KV v2 mount, inside the mount's view:
 *   config                 → KvConfig
 *   meta/<path>            → KeyMetadata (with the version table)
 *   ver/<path>/<version>   → the version's data object
 * Metadata and the version data it points at are always written in one transaction.
 */
export interface KvConfig {
  /** 0 = the default of 10. */
  max_versions: number;
  cas_required: boolean;
  /** Seconds; 0 = versions are never deleted automatically. */
  delete_version_after: number;
}

export interface VersionMetadata {
  created_time: string;
  /** RFC 3339; "" when not deleted. A future time is a scheduled deletion (delete_version_after). */
  deletion_time: string;
  destroyed: boolean;
}

export interface KeyMetadata {
  current_version: number;
  /** As in Vault: 0 until trimming by max_versions has removed a version. */
  oldest_version: number;
  created_time: string;
  updated_time: string;
  max_versions: number;
  cas_required: boolean;
  delete_version_after: number;
  custom_metadata: Record<string, string> | null;
  versions: Record<string, VersionMetadata>;
}

export const DEFAULT_MAX_VERSIONS = 10;

export const defaultConfig = (): KvConfig => ({ max_versions: 0, cas_required: false, delete_version_after: 0 });

export const configKey = "config";
export const metaKey = (path: string) => `meta/${path}`;
export const versionKey = (path: string, version: number) => `ver/${path}/${version}`;

export async function readConfig(storage: StorageView): Promise<KvConfig> {
  return { ...defaultConfig(), ...(await storage.getJSON<KvConfig>(configKey)) };
}

export const readMetadata = (storage: StorageView, path: string) => storage.getJSON<KeyMetadata>(metaKey(path));

export const readVersionData = (storage: StorageView, path: string, version: number) =>
  storage.getJSON<Record<string, unknown>>(versionKey(path, version));

export function newMetadata(now: Date): KeyMetadata {
  const time = now.toISOString();
  return {
    current_version: 0,
    oldest_version: 0,
    created_time: time,
    updated_time: time,
    max_versions: 0,
    cas_required: false,
    delete_version_after: 0,
    custom_metadata: null,
    versions: {},
  };
}

/** A version is deleted once its deletion time has passed; a scheduled deletion in the future is not yet. */
export function isDeleted(version: VersionMetadata, now: Date): boolean {
  return version.deletion_time !== "" && Date.parse(version.deletion_time) <= now.getTime();
}

/** Version numbers in the table, ascending. */
export const versionNumbers = (meta: KeyMetadata) =>
  Object.keys(meta.versions)
    .map(Number)
    .sort((a, b) => a - b);

/**
 * Checks a secret path from the URL. Every path names a key below `meta/`, so
 * empty, `.` and `..` segments are refused; only a list may end with `/`.
 * Returns the path without a trailing slash.
 */
export function validateSecretPath(path: string, opts: { list?: boolean } = {}): string {
  let p = path;
  if (opts.list) {
    if (p === "") return "";
    if (p.endsWith("/")) p = p.slice(0, -1);
  } else {
    if (p === "") throw badRequest("missing path");
    if (p.endsWith("/")) throw badRequest(`path "${path}" must not end with "/"`);
  }
  for (const segment of p.split("/")) {
    if (segment === "") throw badRequest(`path "${path}" must not contain an empty segment`);
    if (segment === "." || segment === "..") throw badRequest(`path "${path}" must not contain "." or ".." segments`);
  }
  return p;
}
