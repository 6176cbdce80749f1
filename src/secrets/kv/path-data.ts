import { badRequest, internalError } from "../../core/errors.js";
import type { LogicalRequest, LogicalResponse, PathDef } from "../../core/types.js";
import type { StorageView } from "../../storage/types.js";
import { nonNegativeIntField, objectField } from "./fields.js";
import { mergePatch } from "./merge-patch.js";
import { type KvDeps, secretExists, secretNotFound, updateExistingMetadata, versionMetadataBody, writeSecret } from "./shared.js";
import {
  DEFAULT_MAX_VERSIONS,
  type KeyMetadata,
  isDeleted,
  metaKey,
  newMetadata,
  readConfig,
  readMetadata,
  readVersionData,
  validateSecretPath,
  versionKey,
  versionNumbers,
} from "./store.js";

type SecretData = Record<string, unknown>;

/** `data/<path>`: read a version, write a new one (with check-and-set), merge-patch, soft-delete the latest. */
export function dataPath(deps: KvDeps): PathDef {
  const write = async (req: LogicalRequest) => {
    const data = requiredData(req.data);
    return writeVersion(deps, req, async () => data);
  };
  return {
    pattern: "data/*path",
    fields: {
      data: { type: "object", description: "The secret's key/value pairs (a JSON object)." },
      options: { type: "object", description: "Write options; `cas` is the version the write expects to replace (0 = must not exist)." },
      version: { type: "int", description: "Version to read; 0 or absent reads the latest." },
    },
    exists: secretExists,
    ops: {
      read: (req) => readVersion(deps, req),
      create: write,
      update: write,
      patch: (req) => {
        const patch = requiredData(req.data);
        return writeVersion(deps, req, async (tx, path, meta) => {
          const vm = meta?.versions[String(meta.current_version)];
          if (!meta || !vm || vm.destroyed || isDeleted(vm, deps.now())) throw secretNotFound();
          const current = await readVersionData(tx, path, meta.current_version);
          if (!current) throw internalError("kv: the latest version's data is missing");
          return mergePatch(current, patch);
        });
      },
      delete: (req) =>
        updateExistingMetadata(deps, req.storage, req.params.path, (meta) => {
          const vm = meta.versions[String(meta.current_version)];
          const now = deps.now();
          if (vm && !vm.destroyed && !isDeleted(vm, now)) vm.deletion_time = now.toISOString();
        }),
    },
    help: "Read, write, patch or soft-delete the versioned data of a secret.",
  };
}

async function readVersion(deps: KvDeps, req: LogicalRequest): Promise<LogicalResponse> {
  const { data, metadata } = await readRequestedVersion(deps, req);
  // Vault answers a deleted or destroyed version with 404 but still shows its metadata.
  if (!data) return { status: 404, data: { data: null, metadata } };
  return { data: { data, metadata } };
}

/**
 * The version a read names in `version` (0 or absent: the latest) with its
 * metadata block; `data` is absent when the version is deleted or destroyed.
 * A missing secret or version throws Vault's bare 404.
 */
export async function readRequestedVersion(
  deps: KvDeps,
  req: LogicalRequest,
): Promise<{ data?: SecretData; metadata: Record<string, unknown> }> {
  const path = validateSecretPath(req.params.path);
  const requested = nonNegativeIntField(req.data, "version") ?? 0;
  const read = await readVersionOf(deps, req.storage, path, requested, await deps.metadata.read(req.storage, path));
  if (read) return read;
  // The cached metadata named a version whose data another replica has removed since: read both afresh.
  deps.metadata.drop(path);
  const fresh = await readVersionOf(deps, req.storage, path, requested, await readMetadata(req.storage, path));
  if (!fresh) throw internalError("kv: a live version's data is missing");
  return fresh;
}

/** As readRequestedVersion, from the given metadata; undefined when the live version's data is not stored. */
async function readVersionOf(
  deps: KvDeps,
  storage: StorageView,
  path: string,
  requested: number,
  meta: KeyMetadata | undefined,
): Promise<{ data?: SecretData; metadata: Record<string, unknown> } | undefined> {
  if (!meta) throw secretNotFound();
  const version = requested || meta.current_version;
  const vm = meta.versions[String(version)];
  if (!vm) throw secretNotFound();
  const metadata = versionMetadataBody(meta, version);
  if (vm.destroyed || isDeleted(vm, deps.now())) return { metadata };
  const data = await readVersionData(storage, path, version);
  return data && { data, metadata };
}

/**
 * Writes the next version of a secret: check-and-set against the current
 * version, schedule deletion by delete_version_after, trim to max_versions, all
 * in one transaction under the secret's lock.
 */
async function writeVersion(
  deps: KvDeps,
  req: LogicalRequest,
  nextData: (tx: StorageView, path: string, meta: KeyMetadata | undefined) => Promise<SecretData>,
): Promise<LogicalResponse> {
  const path = validateSecretPath(req.params.path);
  const options = objectField(req.data, "options") ?? {};
  const cas = nonNegativeIntField(options, "cas");
  return writeSecret(deps, req.storage, path, async (tx) => {
    const config = await readConfig(tx);
    const existing = await readMetadata(tx, path);
    const data = await nextData(tx, path, existing);
    const now = deps.now();
    const meta = existing ?? newMetadata(now);
    if (cas === undefined && (meta.cas_required || config.cas_required)) {
      throw badRequest("check-and-set parameter required for this call");
    }
    if (cas !== undefined && cas !== meta.current_version) {
      throw badRequest("check-and-set parameter did not match the current version");
    }

    const version = meta.current_version + 1;
    const deleteAfter = effectiveDeleteAfter(meta.delete_version_after, config.delete_version_after);
    meta.versions[String(version)] = {
      created_time: now.toISOString(),
      deletion_time: deleteAfter > 0 ? new Date(now.getTime() + deleteAfter * 1000).toISOString() : "",
      destroyed: false,
    };
    meta.current_version = version;
    meta.updated_time = now.toISOString();

    const maxVersions = meta.max_versions || config.max_versions || DEFAULT_MAX_VERSIONS;
    const numbers = versionNumbers(meta);
    const dropped = numbers.slice(0, Math.max(0, numbers.length - maxVersions));
    for (const old of dropped) {
      delete meta.versions[String(old)];
      await tx.delete(versionKey(path, old));
    }
    if (dropped.length > 0) meta.oldest_version = numbers[dropped.length];

    await tx.putJSON(versionKey(path, version), data);
    await tx.putJSON(metaKey(path), meta);
    return { data: versionMetadataBody(meta, version) };
  });
}

/** Vault: the key's delete_version_after applies unless the mount's is shorter; 0 means unset. */
function effectiveDeleteAfter(key: number, mount: number): number {
  if (key > 0 && mount > 0) return Math.min(key, mount);
  return key || mount;
}

function requiredData(data: Record<string, unknown>): SecretData {
  const value = objectField(data, "data");
  if (!value) throw badRequest("no data provided");
  return value;
}
