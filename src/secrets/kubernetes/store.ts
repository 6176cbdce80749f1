import { randomBytes } from "node:crypto";
import type { StorageView } from "../../storage/types.js";
import type { EngineRole, IntentRecord, Target } from "./types.js";

/**
 * Where the engine keeps its objects in the mount's view (encrypted by the
 * barrier): `config` (the default target), `targets/<name>`, `roles/<name>`,
 * `intent/<ref>` (objects that may exist in a cluster), `boots/<id>` (the
 * heartbeats of replicas, see liveness.ts) and `mount-id`.
 */
export const DEFAULT_TARGET = "";

const targetKey = (name: string) => (name === DEFAULT_TARGET ? "config" : `targets/${name}`);

export const getTarget = (s: StorageView, name: string) => s.getJSON<Target>(targetKey(name));
export const putTarget = (s: StorageView, name: string, t: Target) => s.putJSON(targetKey(name), t);
export const deleteTarget = (s: StorageView, name: string) => s.delete(targetKey(name));
export const listTargets = (s: StorageView) => s.list("targets/");

export const getRole = (s: StorageView, name: string) => s.getJSON<EngineRole>(`roles/${name}`);
export const putRole = (s: StorageView, name: string, role: EngineRole) => s.putJSON(`roles/${name}`, role);
export const deleteRole = (s: StorageView, name: string) => s.delete(`roles/${name}`);
export const listRoles = (s: StorageView) => s.list("roles/");

export const getIntent = (s: StorageView, ref: string) => s.getJSON<IntentRecord>(`intent/${ref}`);
export const putIntent = (s: StorageView, intent: IntentRecord) => s.putJSON(`intent/${intent.ref}`, intent);
export const deleteIntent = (s: StorageView, ref: string) => s.delete(`intent/${ref}`);
export const listIntents = (s: StorageView) => s.list("intent/");

/**
 * A random id for this mount, made once: it labels every object the mount
 * creates (mount paths contain `/`, which label values may not) and lives as
 * long as the mount's storage does.
 */
export async function mountId(s: StorageView): Promise<string> {
  return s.transaction(async (tx) => {
    const existing = await tx.getJSON<string>("mount-id");
    if (existing) return existing;
    const id = randomBytes(9).toString("hex");
    await tx.putJSON("mount-id", id);
    return id;
  });
}

/** Roles that connect through `target`, so that a target in use is not deleted under them. */
export async function rolesUsingTarget(s: StorageView, target: string): Promise<string[]> {
  const users: string[] = [];
  for (const name of await listRoles(s)) {
    if ((await getRole(s, name))?.target === target) users.push(name);
  }
  return users;
}
