import { parseDuration } from "../../core/tokens/duration.js";
import type { Backend, BackendContext } from "../../core/types.js";
import { type SecretData, passthroughPaths } from "./passthrough.js";

/** Mount settings a KV version 1 read needs; read on every request, so a tuned mount is seen as soon as the core passes it on. */
export type KvV1Config = Pick<BackendContext["config"], "defaultLeaseTtl" | "maxLeaseTtl">;

/**
 * The KV version 1 secrets engine: one unversioned JSON object per path,
 * stored under `data/<path>` in the mount's view; a write replaces the whole secret.
 */
export function createKvV1Backend(config: KvV1Config): Backend {
  return {
    paths: passthroughPaths({
      area: () => "data/",
      checkWrite: (data) => {
        const raw = leaseField(data);
        if (raw) parseDuration(raw.value, raw.name);
      },
      // Vault's kv v1 reads carry a lease duration (a `ttl` stored with the secret, else the mount's
      // default lease TTL) but register no lease: lease_id stays "" and nothing is renewable.
      respond: (data) => ({ data, leaseInfo: { leaseId: "", renewable: false, ttl: leaseDuration(data, config) } }),
      help: "Read, write, delete or list unversioned key/value secrets; a `ttl` key sets the lease duration shown on reads.",
    }),
  };
}

/** Seconds: the stored `ttl` (or the legacy `lease`) when it parses, else the mount's default lease TTL. */
export function leaseDuration(data: SecretData, config: KvV1Config): number {
  const raw = leaseField(data);
  if (raw) {
    try {
      return parseDuration(raw.value, raw.name);
    } catch {
      // Vault ignores a stored ttl it cannot parse and falls back to the default.
    }
  }
  return config.defaultLeaseTtl;
}

/** Vault's kv v1 reads `ttl`, then `lease`; an empty string counts as unset. */
function leaseField(data: SecretData): { name: string; value: unknown } | undefined {
  for (const name of ["ttl", "lease"]) {
    const value = data[name];
    if (value !== undefined && value !== null && value !== "") return { name, value };
  }
  return undefined;
}
