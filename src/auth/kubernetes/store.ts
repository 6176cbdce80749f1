import type { StorageView } from "../../storage/types.js";
import type { AccessIdRecord, ClusterConfig, Role } from "./types.js";

/**
 * Where the kubernetes auth method keeps its objects in the mount's view
 * (encrypted by the barrier): `config/<name>` (the default config is
 * `config/default`), `role/<name>`, `access-id/<id>`.
 */
export const DEFAULT_CONFIG_NAME = "default";

const configKey = (name: string) => `config/${name}`;
const roleKey = (name: string) => `role/${name}`;
const accessIdKey = (id: string) => `access-id/${id}`;

export const getConfig = (s: StorageView, name: string) => s.getJSON<ClusterConfig>(configKey(name));
export const putConfig = (s: StorageView, name: string, config: ClusterConfig) => s.putJSON(configKey(name), config);
export const deleteConfig = (s: StorageView, name: string) => s.delete(configKey(name));
export const listConfigs = (s: StorageView) => s.list("config/");

export const getRole = (s: StorageView, name: string) => s.getJSON<Role>(roleKey(name));
export const putRole = (s: StorageView, name: string, role: Role) => s.putJSON(roleKey(name), role);
export const deleteRole = (s: StorageView, name: string) => s.delete(roleKey(name));
export const listRoles = (s: StorageView) => s.list("role/");

export const getAccessId = (s: StorageView, id: string) => s.getJSON<AccessIdRecord>(accessIdKey(id));
export const putAccessId = (s: StorageView, record: AccessIdRecord) => s.putJSON(accessIdKey(record.accessId), record);
export const deleteAccessId = (s: StorageView, id: string) => s.delete(accessIdKey(id));
export const listAccessIds = (s: StorageView) => s.list("access-id/");

/** Names of the gateway configs that sign for `accessId`. */
export async function configsUsingAccessId(s: StorageView, accessId: string): Promise<string[]> {
  const users: string[] = [];
  for (const name of await listConfigs(s)) {
    if ((await getConfig(s, name))?.accessId === accessId) users.push(name);
  }
  return users;
}
