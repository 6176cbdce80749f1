import type { JsonPatchOp } from "./patch.js";

type Obj = Record<string, unknown>;

/**
 * RFC 6902 add, replace and remove (what the patch builder emits), applied as
 * the API server would: a path into something missing, an index out of range
 * or a replace of nothing throws instead of being skipped.
 */
export function applyPatch(doc: unknown, patch: JsonPatchOp[]): unknown {
  const root = structuredClone(doc) as Obj;
  for (const op of patch) {
    const segments = op.path.split("/").slice(1).map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"));
    const last = segments.pop();
    if (last === undefined) throw new Error(`empty path ${op.path}`);
    let parent: unknown = root;
    for (const s of segments) {
      const next: unknown = Array.isArray(parent) ? parent[Number(s)] : Object.hasOwn(parent as Obj, s) ? (parent as Obj)[s] : undefined;
      if (typeof next !== "object" || next === null) throw new Error(`${op.path}: ${s} does not exist`);
      parent = next;
    }
    if (Array.isArray(parent)) {
      const index = last === "-" ? parent.length : Number(last);
      if (!Number.isInteger(index) || index < 0 || index > parent.length) throw new Error(`${op.path}: bad index`);
      if (op.op === "add") parent.splice(index, 0, op.value);
      else if (index >= parent.length) throw new Error(`${op.path}: no element to ${op.op}`);
      else if (op.op === "replace") parent[index] = op.value;
      else parent.splice(index, 1);
    } else {
      const target = parent as Obj;
      if (op.op !== "add" && !Object.hasOwn(target, last)) throw new Error(`${op.path}: no member to ${op.op}`);
      if (op.op === "remove") delete target[last];
      // defineProperty: a member named "__proto__" is a member, as in JSON.
      else Object.defineProperty(target, last, { value: op.value, enumerable: true, writable: true, configurable: true });
    }
  }
  return root;
}
