import { deepFreeze } from "../../core/tokens/cache.js";
import type { StorageView } from "../../storage/types.js";
import { getConfig, getRole } from "./store.js";
import type { ClusterConfig, Role } from "./types.js";

/**
 * The roles and configs a login reads, kept decrypted and parsed between
 * logins so that a login costs no storage read for them. Only for a mount whose
 * storage no other server writes: every write to it then passes through this
 * backend's own handlers, which call `changing` before and after they run.
 * With shared storage (HA replicas) nothing is kept and every login reads.
 *
 * A read that was in flight while a write ran is not kept (the generation
 * moved), so a login never caches what a write just replaced. Entries are
 * frozen: a login that tried to change one would throw rather than alter the
 * next login's role.
 */
export interface LoginObjects {
  role(storage: StorageView, name: string): Promise<Role | undefined>;
  config(storage: StorageView, name: string): Promise<ClusterConfig | undefined>;
  /** Drops everything; called before and after every write through the mount. */
  changing(): void;
}

/** Roles and configs are an operator's objects, few per mount; past this many the cache starts over. */
const MAX_ENTRIES = 1_000;

export function createLoginObjects(opts: { enabled: boolean }): LoginObjects {
  if (!opts.enabled) {
    return { role: getRole, config: getConfig, changing: () => undefined };
  }
  const roles = new Map<string, Role>();
  const configs = new Map<string, ClusterConfig>();
  let generation = 0;

  async function cached<T extends object>(
    entries: Map<string, T>,
    name: string,
    read: () => Promise<T | undefined>,
  ): Promise<T | undefined> {
    const hit = entries.get(name);
    if (hit) return hit;
    const epoch = generation;
    const value = await read();
    if (value && epoch === generation) {
      if (entries.size >= MAX_ENTRIES) entries.clear();
      entries.set(name, deepFreeze(value));
    }
    return value;
  }

  return {
    role: (storage, name) => cached(roles, name, () => getRole(storage, name)),
    config: (storage, name) => cached(configs, name, () => getConfig(storage, name)),
    changing() {
      generation++;
      roles.clear();
      configs.clear();
    },
  };
}
