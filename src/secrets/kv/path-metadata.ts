import { badRequest } from "../../core/errors.js";
import type { LogicalRequest, LogicalResponse, PathDef } from "../../core/types.js";
import { formatDuration } from "./duration.js";
import { boolField, durationField, nonNegativeIntField, objectField } from "./fields.js";
import { mergePatch } from "./merge-patch.js";
import { type KvDeps, listSecretKeys, secretExists, secretNotFound, writeSecret } from "./shared.js";
import {
  type KeyMetadata,
  metaKey,
  newMetadata,
  readMetadata,
  validateSecretPath,
  versionKey,
  versionNumbers,
} from "./store.js";

const metadataFields = {
  max_versions: { type: "int", description: "Versions to keep for this secret; 0 uses the mount's setting." },
  cas_required: { type: "bool", description: "Require `options.cas` on every write to this secret." },
  delete_version_after: {
    type: "duration",
    description: "Soft-delete each version this long after it is written; 0s uses the mount's setting.",
  },
  custom_metadata: { type: "map", description: "Up to 64 string key/value pairs describing the secret (not secret)." },
} as const;

/** `metadata/<path>`: the version table and per-secret settings; list the tree; delete a secret for good. */
export function metadataPath(deps: KvDeps): PathDef {
  const write = async (req: LogicalRequest) => writeMetadata(deps, req, false);
  return {
    pattern: "metadata/*path",
    fields: { ...metadataFields },
    exists: secretExists,
    ops: {
      read: readMetadataOp,
      list: listKeys,
      create: write,
      update: write,
      patch: (req) => writeMetadata(deps, req, true),
      delete: (req) => deleteSecret(deps, req),
    },
    help: "Read or configure a secret's metadata and versions, list secrets, or delete a secret with all its versions.",
  };
}

/**
 * Listing the mount's root: `*path` never matches an empty rest, so Vault's
 * `LIST secret/metadata/` (what `kv list secret` sends) and `secret/metadata` get routes of their own.
 */
export function metadataRootPaths(): PathDef[] {
  return ["metadata", "metadata/"].map((pattern) => ({
    pattern,
    ops: { list: listKeys },
    help: "List the secrets at the root of the mount.",
  }));
}

async function readMetadataOp(req: LogicalRequest): Promise<LogicalResponse> {
  const path = validateSecretPath(req.params.path);
  const meta = await readMetadata(req.storage, path);
  if (!meta) throw secretNotFound();
  const versions: Record<string, unknown> = {};
  for (const n of versionNumbers(meta)) versions[String(n)] = { ...meta.versions[String(n)] };
  return {
    data: {
      cas_required: meta.cas_required,
      created_time: meta.created_time,
      current_version: meta.current_version,
      custom_metadata: meta.custom_metadata,
      delete_version_after: formatDuration(meta.delete_version_after),
      max_versions: meta.max_versions,
      oldest_version: meta.oldest_version,
      updated_time: meta.updated_time,
      versions,
    },
  };
}

const listKeys = (req: LogicalRequest) => listSecretKeys(req.storage, metaKey(""), req.params.path ?? "");

/** Create/update replaces what the body names; patch merges custom_metadata (null removes a key) and needs the secret. */
async function writeMetadata(deps: KvDeps, req: LogicalRequest, patch: boolean): Promise<undefined> {
  const path = validateSecretPath(req.params.path);
  const maxVersions = nonNegativeIntField(req.data, "max_versions");
  const casRequired = boolField(req.data, "cas_required");
  const deleteAfter = durationField(req.data, "delete_version_after");
  const custom = objectField(req.data, "custom_metadata");
  await writeSecret(deps, req.storage, path, async (tx) => {
    const existing = await readMetadata(tx, path);
    if (patch && !existing) throw secretNotFound();
    const now = deps.now();
    const meta = existing ?? newMetadata(now);
    if (maxVersions !== undefined) meta.max_versions = maxVersions;
    if (casRequired !== undefined) meta.cas_required = casRequired;
    if (deleteAfter !== undefined) meta.delete_version_after = deleteAfter;
    if (custom !== undefined) {
      meta.custom_metadata = validCustomMetadata(patch ? mergePatch(meta.custom_metadata ?? {}, custom) : custom);
    }
    meta.updated_time = now.toISOString();
    await tx.putJSON(metaKey(path), meta);
  });
  return undefined;
}

/** Vault's limits on custom_metadata: 64 keys, keys up to 128 and values up to 512 characters, strings only. */
function validCustomMetadata(value: Record<string, unknown>): KeyMetadata["custom_metadata"] {
  const entries = Object.entries(value);
  if (entries.length > 64) throw badRequest("custom_metadata must not have more than 64 keys");
  const out: Record<string, string> = {};
  for (const [key, v] of entries) {
    if (key === "" || key.length > 128) throw badRequest("custom_metadata keys must have 1 to 128 characters");
    if (typeof v !== "string") throw badRequest(`custom_metadata value of "${key}" must be a string`);
    if (v.length > 512) throw badRequest(`custom_metadata value of "${key}" must not be longer than 512 characters`);
    out[key] = v;
  }
  return entries.length === 0 ? null : out;
}

async function deleteSecret(deps: KvDeps, req: LogicalRequest): Promise<undefined> {
  const path = validateSecretPath(req.params.path);
  await writeSecret(deps, req.storage, path, async (tx) => {
    const meta = await readMetadata(tx, path);
    if (!meta) return;
    for (const n of versionNumbers(meta)) await tx.delete(versionKey(path, n));
    await tx.delete(metaKey(path));
  });
  return undefined;
}
