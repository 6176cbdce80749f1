import { LatchkeyError } from "../../core/errors.js";
import type { LogicalRequest, LogicalResponse } from "../../core/types.js";
import type { StorageView } from "../../storage/types.js";
import type { KeyedLock } from "../../core/keyed-lock.js";
import type { MetadataCache } from "./metadata-cache.js";
import { type KeyMetadata, metaKey, readMetadata, validateSecretPath } from "./store.js";

/** What the KV path handlers share: one clock, one per-secret write lock and one metadata cache per mount. */
export interface KvDeps {
  now: () => Date;
  lock: KeyedLock;
  metadata: MetadataCache;
}

/**
 * A write of one secret's metadata (and version data): one transaction under
 * the secret's lock, then, committed or not, its cached metadata is dropped on
 * every replica before the lock is released.
 */
export function writeSecret<T>(
  deps: KvDeps,
  storage: StorageView,
  path: string,
  fn: (tx: StorageView) => Promise<T>,
): Promise<T> {
  return deps.lock.run(path, async () => {
    try {
      return await storage.transaction(fn);
    } finally {
      await deps.metadata.changed(path);
    }
  });
}

/** Vault answers a missing secret, version or listing with 404 and `{"errors": []}`. */
export const secretNotFound = () => new LatchkeyError("LK_ERR_NOT_FOUND", 404, "");

/**
 * Vault's LIST: the names directly below a folder of secrets stored under
 * `area` (subfolders end with `/`); an empty folder is a 404, as Vault's HTTP
 * layer answers a list without keys.
 */
export async function listSecretKeys(storage: StorageView, area: string, rawPath: string): Promise<LogicalResponse> {
  const path = validateSecretPath(rawPath, { list: true });
  const keys = await storage.list(path === "" ? area : `${area}${path}/`);
  if (keys.length === 0) throw secretNotFound();
  return { data: { keys } };
}

/** The per-version metadata block of `data/` reads and writes. */
export function versionMetadataBody(meta: KeyMetadata, version: number): Record<string, unknown> {
  const vm = meta.versions[String(version)];
  return {
    created_time: vm.created_time,
    // A copy: the metadata may be the cache's frozen entry.
    custom_metadata: meta.custom_metadata && { ...meta.custom_metadata },
    deletion_time: vm.deletion_time,
    destroyed: vm.destroyed,
    version,
  };
}

/** Existence check for create-vs-update: a secret exists once it has metadata. */
export async function secretExists(req: LogicalRequest): Promise<boolean> {
  return (await readMetadata(req.storage, req.params.path ?? "")) !== undefined;
}

/**
 * Read-modify-write of one secret's metadata under its lock and in one
 * transaction; `change` may also write version data through `tx`. A missing
 * secret is left alone (Vault's delete/undelete/destroy succeed silently).
 */
export async function updateExistingMetadata(
  deps: KvDeps,
  storage: StorageView,
  rawPath: string,
  change: (meta: KeyMetadata, tx: StorageView, path: string) => Promise<void> | void,
): Promise<undefined> {
  const path = validateSecretPath(rawPath);
  await writeSecret(deps, storage, path, async (tx) => {
    const meta = await readMetadata(tx, path);
    if (!meta) return;
    await change(meta, tx, path);
    await tx.putJSON(metaKey(path), meta);
  });
  return undefined;
}
