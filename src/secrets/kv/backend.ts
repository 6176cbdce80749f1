import type { Backend, BackendContext, BackendFactory } from "../../core/types.js";
import { createKeyedLock } from "../../core/keyed-lock.js";
import { kvVersionOf } from "./mount-options.js";
import { configPath } from "./path-config.js";
import { dataPath } from "./path-data.js";
import { createMetadataCache } from "./metadata-cache.js";
import { metadataPath, metadataRootPaths } from "./path-metadata.js";
import { subkeysPath } from "./path-subkeys.js";
import { versionPaths } from "./path-versions.js";
import { createKvV1Backend } from "./v1.js";

export interface KvBackendOptions {
  /** The clock for created/deletion times; tests pass a fake one. */
  now?: () => Date;
  /** The mount's context: its path, and the bus that keeps the metadata cache current across replicas. */
  ctx?: Pick<BackendContext, "mountPath" | "invalidations" | "sharedStorage">;
}

/** The KV version 2 secrets engine: versioned secrets with Vault's `data/`, `metadata/`, `subkeys/`, `delete/`, `undelete/`, `destroy/`, `config` paths. */
export function createKvBackend(opts: KvBackendOptions = {}): Backend {
  const now = opts.now ?? (() => new Date());
  const metadata = createMetadataCache({
    mountPath: opts.ctx?.mountPath ?? "",
    invalidations: opts.ctx?.invalidations,
    sharedStorage: opts.ctx?.sharedStorage,
    now: () => now().getTime(),
  });
  const deps = { now, lock: createKeyedLock(), metadata };
  return {
    stop: async () => metadata.stop(),
    paths: [
      configPath(),
      dataPath(deps),
      ...metadataRootPaths(),
      metadataPath(deps),
      subkeysPath(deps),
      ...versionPaths(deps),
    ],
  };
}

/**
 * Registered as the `kv` mount type: `options.version` chooses the engine,
 * version 1 unless it says "2", as Vault's kv plugin does. One backend, and
 * one write lock table, per mount.
 */
export const kvBackendFactory: BackendFactory = (ctx) =>
  kvVersionOf(ctx.config.options) === "2" ? createKvBackend({ ctx }) : createKvV1Backend(ctx.config);

/** Registered as the `kv-v2` mount type: always version 2, whatever the options say. */
export const kvV2BackendFactory: BackendFactory = (ctx) => createKvBackend({ ctx });
