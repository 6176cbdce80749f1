import { badRequest } from "../../core/errors.js";

export type KvVersion = "1" | "2";

/**
 * The KV version a mount's options choose. Vault's kv plugin serves version 1
 * unless `options.version` is "2" (an empty or absent version is 1).
 */
export function kvVersionOf(options: Record<string, string>): KvVersion {
  const version = options.version ?? "";
  if (version === "" || version === "1") return "1";
  if (version === "2") return "2";
  throw badRequest(`field "options.version" must be "1" or "2", not "${version}"`);
}

/**
 * What sys/mounts stores for a request to mount `type`: Vault's handleMount
 * turns the aliases `kv-v1` and `kv-v2` into `kv` with the version set, and
 * latchkey writes the version of a plain `kv` mount out too, so that
 * `sys/mounts` always says which one a mount is. Other types pass unchanged.
 */
export function normaliseKvMount(
  type: string,
  options: Record<string, string>,
): { type: string; options: Record<string, string> } {
  if (type === "kv-v1" || type === "kv-v2") return { type: "kv", options: { ...options, version: type === "kv-v1" ? "1" : "2" } };
  if (type === "kv") return { type, options: { ...options, version: kvVersionOf(options) } };
  return { type, options };
}

/**
 * Checks the options a tune leaves a mount of `type` with. A kv mount keeps
 * its version: its backend was made for it and its data is laid out for it,
 * so a changed `options.version` would only take effect at the next unseal,
 * with the secrets written so far out of the new engine's sight. Vault
 * upgrades version 1 to 2 in place; latchkey refuses the change instead.
 */
export function normaliseKvTune(
  type: string,
  current: Record<string, string>,
  next: Record<string, string>,
): Record<string, string> {
  if (type !== "kv") return next;
  const before = kvVersionOf(current);
  const after = kvVersionOf(next);
  if (after !== before) {
    throw badRequest(
      after === "1"
        ? "cannot downgrade a kv mount from version 2 to version 1"
        : "upgrading a kv mount from version 1 to version 2 is not supported; mount a version 2 engine and copy the secrets",
    );
  }
  return { ...next, version: after };
}
