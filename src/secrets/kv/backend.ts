import type { Backend, BackendFactory } from "../../core/types.js";
import { createKeyedLock } from "../../core/keyed-lock.js";
import { configPath } from "./path-config.js";
import { dataPath } from "./path-data.js";
import { metadataPath, metadataRootPaths } from "./path-metadata.js";
import { versionPaths } from "./path-versions.js";

export interface KvBackendOptions {
  /** The clock for created/deletion times; tests pass a fake one. */
  now?: () => Date;
}

/** The KV version 2 secrets engine: versioned secrets with Vault's `data/`, `metadata/`, `delete/`, `undelete/`, `destroy/`, `config` paths. */
export function createKvBackend(opts: KvBackendOptions = {}): Backend {
  const deps = { now: opts.now ?? (() => new Date()), lock: createKeyedLock() };
  return {
    paths: [configPath(), dataPath(deps), ...metadataRootPaths(), metadataPath(deps), ...versionPaths(deps)],
  };
}

/** Registered by the core as the `kv` (version 2) mount type; one backend, and one write lock table, per mount. */
export const kvBackendFactory: BackendFactory = () => createKvBackend();
