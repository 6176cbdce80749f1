import type { Capability, Operation } from "../types.js";

/** A value listed under `allowed_parameters` / `denied_parameters`; strings may use `*` globs at either end. */
export type ParameterValue = string | number | boolean;

/** The parameter and wrapping constraints a rule can carry (and a winning rule's merge of them). */
export interface RuleConstraints {
  /** Keys lower-cased; an empty list allows any value. Absent: no restriction. */
  allowedParameters?: Record<string, ParameterValue[]>;
  /** Keys lower-cased; an empty list denies any value. */
  deniedParameters?: Record<string, ParameterValue[]>;
  requiredParameters?: string[];
  /** Seconds. */
  minWrappingTtl?: number;
  /** Seconds. */
  maxWrappingTtl?: number;
}

/** One `path "<pattern>" { ... }` block of a policy. */
export interface PathRule extends RuleConstraints {
  /**
   * The pattern as written, without a leading `/`: may end with `*` (prefix
   * match), contain whole `+` segments, and `{{token.metadata.<key>}}`.
   */
  path: string;
  /** Canonical order; `["deny"]` alone when the block denies. */
  capabilities: Capability[];
  /** 1-based line of the block in the policy text (for messages). */
  line: number;
}

export interface Policy {
  name: string;
  /** The text it was parsed from, kept so that a read returns what was written. */
  text: string;
  rules: PathRule[];
  /** True when some rule uses `{{token.metadata.<key>}}`. */
  templated: boolean;
}

/** What a check needs from the caller's token. */
export interface AclContext {
  metadata: Record<string, string>;
}

export interface AclCheck {
  allowed: boolean;
  /** The winning rule grants `sudo` (always true for the root policy). */
  sudo: boolean;
  /**
   * Capabilities of the winning rule, as sys/capabilities-self reports them:
   * `["deny"]` when nothing matches or the rule denies, `["root"]` is never
   * returned; a root ACL returns every capability but `deny`.
   */
  capabilities: Capability[];
  /** The winning rule's `min_wrapping_ttl` / `max_wrapping_ttl`, seconds, when it sets them. */
  minWrappingTtl?: number;
  maxWrappingTtl?: number;
}

/** The merged permissions of the rule that wins for a path. */
export interface AclPermissions extends RuleConstraints {
  /** The winning pattern after template substitution; `"*"` for the root policy. */
  pattern: string;
  capabilities: Capability[];
}

export interface ParameterCheck {
  allowed: boolean;
  /** Which parameter failed and why; short and free of the value (it may be secret). */
  reason?: string;
}

export interface Acl {
  /** Whether `op` (or `sudo`) is allowed on `path` (relative to `/v1/`, no leading slash). */
  check(path: string, op: Operation | "sudo", ctx?: AclContext): AclCheck;
  /** The merged rule that wins for `path`, or undefined when none matches (root: every capability). */
  permissions(path: string, ctx?: AclContext, op?: Operation | "sudo"): AclPermissions | undefined;
  /**
   * Vault's `required_parameters`, `denied_parameters` and `allowed_parameters`
   * for the winning rule on `path`; the core calls it for operations that carry
   * a body (create, update, patch) after `check` allowed the operation.
   */
  checkParameters(path: string, data: Record<string, unknown>, ctx?: AclContext): ParameterCheck;
  /** True for an ACL that contains the root policy. */
  readonly root: boolean;
  /** Names of the policies compiled into it, sorted. */
  readonly policies: readonly string[];
}
