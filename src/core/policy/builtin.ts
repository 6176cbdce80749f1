import { badRequest } from "../errors.js";
import { parsePolicy } from "./parse.js";
import type { Policy } from "./types.js";

/** Grants everything, sudo included; has no rules, is special-cased by compileAcl, and can never be written or deleted. */
export const ROOT_POLICY_NAME = "root";

/** Attached to tokens unless they opt out; may be rewritten by an operator but never deleted. */
export const DEFAULT_POLICY_NAME = "default";

/** Held only by response-wrapping tokens: they can unwrap and nothing else. Fixed, as in Vault. */
export const RESPONSE_WRAPPING_POLICY_NAME = "response-wrapping";

export const RESPONSE_WRAPPING_POLICY_TEXT = `# A response-wrapping token can hand over the response it wraps, once.
path "sys/wrapping/unwrap" {
  capabilities = ["update"]
}
`;

export const ROOT_POLICY: Policy = { name: ROOT_POLICY_NAME, text: "", rules: [], templated: false };

/**
 * What every token may do about itself: look itself up, renew and revoke
 * itself, ask what it may do, manage the leases it holds, hash values the way
 * the audit log does, and use its own cubbyhole.
 */
export const DEFAULT_POLICY_TEXT = `# latchkey default policy: what any token may do to and for itself.
# Operators may rewrite it; it cannot be deleted.

# A token can read its own properties.
path "auth/token/lookup-self" {
  capabilities = ["read"]
}

# A token can extend and end its own life.
path "auth/token/renew-self" {
  capabilities = ["update"]
}

path "auth/token/revoke-self" {
  capabilities = ["update"]
}

# A token can ask which capabilities it has on a path.
path "sys/capabilities-self" {
  capabilities = ["update"]
}

# A token can look up and renew the leases it was given.
path "sys/leases/lookup" {
  capabilities = ["update"]
}

path "sys/leases/renew" {
  capabilities = ["update"]
}

path "sys/renew" {
  capabilities = ["update"]
}

# A token can wrap a value in a single-use response-wrapping token, look one up, and unwrap one.
path "sys/wrapping/wrap" {
  capabilities = ["update"]
}

path "sys/wrapping/lookup" {
  capabilities = ["update"]
}

path "sys/wrapping/unwrap" {
  capabilities = ["update"]
}

# A token can compute the audit hash of a value, to find it in audit logs.
path "sys/tools/hash" {
  capabilities = ["update"]
}

# Every token has a private scratch space that dies with it.
path "cubbyhole/*" {
  capabilities = ["create", "read", "update", "delete", "list"]
}
`;

let defaultPolicy: Policy | undefined;
let responseWrappingPolicy: Policy | undefined;

/** The built-in default policy, parsed once. */
export function builtinDefaultPolicy(): Policy {
  defaultPolicy ??= parsePolicy(DEFAULT_POLICY_NAME, DEFAULT_POLICY_TEXT);
  return defaultPolicy;
}

/** The built-in policies that exist without being written: `default` (until rewritten) and `response-wrapping`. */
export function builtinPolicy(name: string): Policy | undefined {
  if (name === DEFAULT_POLICY_NAME) return builtinDefaultPolicy();
  if (name === RESPONSE_WRAPPING_POLICY_NAME) {
    responseWrappingPolicy ??= parsePolicy(RESPONSE_WRAPPING_POLICY_NAME, RESPONSE_WRAPPING_POLICY_TEXT);
    return responseWrappingPolicy;
  }
  return undefined;
}

/** Refuses to write the root or response-wrapping policy (400), as Vault does. */
export function assertWritable(name: string): void {
  if (name === ROOT_POLICY_NAME || name === RESPONSE_WRAPPING_POLICY_NAME) {
    throw badRequest(`cannot update the "${name}" policy`);
  }
}

/** Refuses to delete the root, default or response-wrapping policy (400), as Vault does. */
export function assertDeletable(name: string): void {
  if (name === ROOT_POLICY_NAME || name === DEFAULT_POLICY_NAME || name === RESPONSE_WRAPPING_POLICY_NAME) {
    throw badRequest(`cannot delete the "${name}" policy`);
  }
}
