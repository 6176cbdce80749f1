import { badRequest } from "../../core/errors.js";
import { parseDuration } from "../../core/tokens/duration.js";
import { policyNames } from "../../core/tokens/policies.js";
import { nonNegativeInt, toAuthResult } from "../../core/tokens/store.js";
import type { CreateTokenParams, TokenAuthResult, TokenStore } from "../../core/tokens/types.js";
import type { FieldSchema, LogicalRequest, LogicalResponse, TokenType } from "../../core/types.js";
import { matchesAny } from "../../core/glob.js";
import { callerOf, stringList, stringMap } from "./input.js";
import type { RoleTokenType, TokenRole } from "./roles.js";

export type TokenResponse = LogicalResponse & { authResult?: TokenAuthResult };

export const CREATE_FIELDS: Record<string, FieldSchema> = {
  policies: { type: "string_list", description: "Policies of the token; default: the caller's" },
  meta: { type: "map", description: "String metadata, passed to audit and policy templates" },
  no_parent: { type: "bool", description: "Create an orphan (root or sudo callers)" },
  no_default_policy: { type: "bool", description: "Leave out the default policy" },
  renewable: { type: "bool", description: "Whether the token can be renewed (default true)" },
  ttl: { type: "duration", description: "TTL, e.g. 1h; default 768h, none for root tokens" },
  explicit_max_ttl: { type: "duration", description: "Hard limit on the token's life" },
  period: { type: "duration", description: "Renew to this TTL forever (root or sudo)" },
  num_uses: { type: "int", description: "Number of uses; 0 = unlimited" },
  type: { type: "string", description: "service (default) or batch" },
  display_name: { type: "string", description: "Shown in audit logs as token-<name>" },
  entity_alias: { type: "string", description: "Entity alias (token roles only); refused: there is no identity store" },
};

export interface TokenCreatorDeps {
  tokens: TokenStore;
  /** For Vault's `Policy "x" does not exist` warnings on create; no warnings without it. */
  policyExists?: (name: string) => Promise<boolean>;
}

/** How a create path makes tokens: `create-orphan` always makes orphans; `create/<role>` follows the role. */
export interface CreateMode {
  orphan: boolean;
  role?: TokenRole;
}

/**
 * Vault's handleCreateCommon for `auth/token/create`, `create-orphan` and
 * `create/<role>`. Root and sudo are one privilege here, as in Vault: the core
 * tells whether the caller's policies grant `sudo` on the requested path, and
 * root tokens always have it.
 */
export function tokenCreator(deps: TokenCreatorDeps) {
  const { tokens } = deps;

  async function create(req: LogicalRequest, mode: CreateMode): Promise<TokenResponse> {
    const parent = callerOf(req);
    const d = req.data;
    const { role } = mode;
    const sudo = req.sudo === true;
    // Vault: otherwise a limited-use token would escape its count through its children.
    if (parent.numUses > 0) throw badRequest("restricted use token cannot generate child tokens");
    const type = role ? typeForRole(role.tokenType, d.type) : tokenType(d.type);
    refuseEntityAlias(d.entity_alias, role);
    const warnings: string[] = [];

    const noDefaultPolicy = d.no_default_policy === true || role?.tokenNoDefaultPolicy === true;
    const { policies, policyRule } = policiesFor(stringList(d.policies, "policies"), parent.policies, sudo, noDefaultPolicy, role);

    // Vault: a role decides orphan status and `no_parent` is ignored; otherwise
    // `no_parent` needs sudo, even on create-orphan, where it changes nothing.
    let noParent = role ? role.orphan : mode.orphan;
    if (!role && d.no_parent === true) {
      if (!sudo) throw badRequest("root or sudo privileges required to create orphan token");
      noParent = true;
    }

    let period = parseDuration(d.period, "period");
    if (period > 0 && !sudo) throw badRequest("root or sudo privileges required to create periodic token");
    let explicitMaxTtl = parseDuration(d.explicit_max_ttl, "explicit_max_ttl");
    let numUses = nonNegativeInt(d.num_uses, "num_uses");
    if (role) {
      if (role.tokenNumUses > 0 && (numUses === 0 || role.tokenNumUses < numUses)) numUses = role.tokenNumUses;
      if (type !== "batch") {
        explicitMaxTtl = lesser(explicitMaxTtl, role.tokenExplicitMaxTtl, "Explicit max TTL", warnings);
        period = lesser(period, role.tokenPeriod, "Period", warnings);
      }
    }

    const path = `${req.mountPath}${req.path}`;
    const { token, entry } = await tokens.create({
      policies,
      policyRule,
      metadata: stringMap(d.meta, "meta"),
      ttl: parseDuration(d.ttl, "ttl"),
      explicitMaxTtl,
      period,
      numUses,
      renewable: d.renewable !== false && (role?.renewable ?? true),
      type,
      parent,
      noParent,
      noDefaultPolicy,
      // Vault: a child is bound where its parent is, unless a role says where (roles may widen on purpose).
      boundCidrs: role ? role.tokenBoundCidrs : noParent ? undefined : parent.boundCidrs,
      displayName: displayName(d.display_name),
      // Vault: the role name is part of the path, so `revoke-prefix auth/token/create/<role>` revokes its tokens.
      path: role?.pathSuffix ? `${path}/${role.pathSuffix}` : path,
      ...(role && { role: role.name }),
    });
    warnings.push(...(await missingPolicyWarnings(entry.policies)));
    return { authResult: toAuthResult(token, entry, tokens.nowSeconds()), ...(warnings.length > 0 && { warnings }) };
  }

  async function missingPolicyWarnings(policies: string[]): Promise<string[]> {
    const exists = deps.policyExists;
    if (!exists) return [];
    const warnings: string[] = [];
    for (const name of policies) {
      if (name !== "root" && name !== "default" && !(await exists(name))) warnings.push(`Policy "${name}" does not exist`);
    }
    return warnings;
  }

  return create;
}

/**
 * Which policies the store gets, under which rule (Vault's order): a role's
 * lists decide alone; a token that inherits its parent's policies gets them as
 * they are; requested policies are bounded by the parent's unless the caller
 * holds sudo.
 */
function policiesFor(
  requested: string[],
  parentPolicies: string[],
  sudo: boolean,
  noDefaultPolicy: boolean,
  role: TokenRole | undefined,
): Required<Pick<CreateTokenParams, "policies" | "policyRule">> {
  if (role && hasPolicyLists(role)) {
    return { policies: rolePolicies(role, requested, parentPolicies, noDefaultPolicy), policyRule: "exact" };
  }
  if (requested.length === 0) return { policies: parentPolicies, policyRule: "subset" };
  return { policies: requested, policyRule: sudo ? "sudo" : "subset" };
}

const hasPolicyLists = (role: TokenRole) =>
  role.allowedPolicies.length > 0 ||
  role.disallowedPolicies.length > 0 ||
  role.allowedPoliciesGlob.length > 0 ||
  role.disallowedPoliciesGlob.length > 0;

/**
 * Vault's policy rule for a role with allowed or disallowed lists: the
 * requested policies (else the allowed ones, else the caller's) must lie
 * within the allowed lists and outside the disallowed ones. The caller's own
 * policies do not bound them; `default` is added unless the role or the
 * request leaves it out or the role disallows it.
 */
export function rolePolicies(role: TokenRole, requested: string[], parentPolicies: string[], noDefaultPolicy: boolean): string[] {
  const addDefault =
    !noDefaultPolicy && !role.disallowedPolicies.includes("default") && !matchesAny(role.disallowedPoliciesGlob, "default");
  let policies = requested.length > 0 ? sanitizePolicies(requested, addDefault) : [];
  if (role.allowedPolicies.length > 0 || role.allowedPoliciesGlob.length > 0) {
    const allowed = sanitizePolicies(role.allowedPolicies, addDefault);
    if (policies.length === 0) {
      policies = allowed;
    } else if (policies.some((p) => !allowed.includes(p) && !matchesAny(role.allowedPoliciesGlob, p))) {
      throw badRequest(
        `token policies (${goList(policies)}) must be subset of the role's allowed policies (${goList(allowed)}) or glob policies (${goList(role.allowedPoliciesGlob)})`,
      );
    }
  } else if (policies.length === 0) {
    policies = sanitizePolicies(parentPolicies, addDefault);
  }
  const denied = policies.find((p) => role.disallowedPolicies.includes(p) || matchesAny(role.disallowedPoliciesGlob, p));
  if (denied !== undefined) throw badRequest(`token policy ${JSON.stringify(denied)} is disallowed by this role`);
  return policies;
}

/** Vault's policyutil.SanitizePolicies: `root` stands alone; otherwise `default` is added when asked. */
function sanitizePolicies(names: string[], addDefault: boolean): string[] {
  const clean = policyNames(names);
  if (clean.includes("root")) return ["root"];
  return addDefault && !clean.includes("default") ? policyNames([...clean, "default"]) : clean;
}

/** A list as Go's `%q` prints it, so messages read as Vault's do. */
const goList = (items: string[]) => `[${items.map((i) => JSON.stringify(i)).join(" ")}]`;

/** Vault: when the request and the role both set a limit, the lesser wins, with a warning. */
function lesser(requested: number, fromRole: number, what: string, warnings: string[]): number {
  if (fromRole === 0) return requested;
  if (requested === 0) return fromRole;
  const value = Math.min(requested, fromRole);
  warnings.push(`${what} specified both during creation call and in role; using the lesser value of ${value} seconds`);
  return value;
}

function tokenType(value: unknown): TokenType {
  if (value === undefined || value === null || value === "" || value === "service") return "service";
  if (value === "batch") return "batch";
  throw badRequest(`field "type" must be "service" or "batch"`);
}

/** A role's `service` or `batch` overrides the request's `type`; `default-*` is the fallback when it has none. */
function typeForRole(roleType: RoleTokenType, requested: unknown): TokenType {
  if (roleType === "service" || roleType === "batch") return roleType;
  if (roleType === "default-batch" && (requested === undefined || requested === null || requested === "")) return "batch";
  return tokenType(requested);
}

function refuseEntityAlias(value: unknown, role: TokenRole | undefined): void {
  if (value === undefined || value === null || value === "") return;
  if (!role) throw badRequest("'entity_alias' is only allowed in combination with token role");
  if (typeof value !== "string" || !matchesAny(role.allowedEntityAliases, value.toLowerCase())) {
    throw badRequest("invalid 'entity_alias' value");
  }
  // Vault finds or creates an identity entity for the alias; without an identity store it cannot be honoured.
  throw badRequest("'entity_alias' is not supported: latchkey has no identity store");
}

/** Vault: `token-<name>` with anything but letters, digits and `-` turned into `-`. */
function displayName(value: unknown): string {
  if (typeof value !== "string" || value === "") return "token";
  return `token-${value}`.replace(/[^a-zA-Z0-9-]/g, "-").replace(/-+$/, "");
}
