import type { LogicalRequest, LogicalResponse, PathDef } from "../../core/types.js";
import { isObject, nonNegativeIntField } from "./fields.js";
import { readRequestedVersion } from "./path-data.js";
import type { KvDeps } from "./shared.js";

/** `subkeys/<path>`: the key structure of a version without its values, for callers allowed to see shape but not secrets. */
export function subkeysPath(deps: KvDeps): PathDef {
  return {
    pattern: "subkeys/*path",
    fields: {
      version: { type: "int", description: "Version to read; 0 or absent reads the latest." },
      depth: { type: "int", description: "Deepest nesting level to show; keys at this depth are leaves. 0 = no limit." },
    },
    ops: { read: (req) => readSubkeys(deps, req) },
    help: "Read the keys of a secret version, with every value replaced by null.",
  };
}

async function readSubkeys(deps: KvDeps, req: LogicalRequest): Promise<LogicalResponse> {
  const depth = nonNegativeIntField(req.data, "depth") ?? 0;
  const { data, metadata } = await readRequestedVersion(deps, req);
  // As for data/ reads, Vault shows a deleted or destroyed version's metadata with its 404.
  if (!data) return { status: 404, data: { subkeys: null, metadata } };
  return { data: { subkeys: subkeys(data, depth), metadata } };
}

/**
 * Vault's subkeys: every non-object value becomes null, and so does every
 * object at `maxDepth` (0 = no limit). Arrays are values, not structure.
 * Stored data passed the request depth limit, so the recursion is bounded.
 */
export function subkeys(data: Record<string, unknown>, maxDepth: number, depth = 1): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(data)) {
    out[key] = isObject(value) && (maxDepth === 0 || depth < maxDepth) ? subkeys(value, maxDepth, depth + 1) : null;
  }
  return out;
}
