import { badRequest, notFound } from "../../core/errors.js";
import { parseCidrs } from "../../core/net.js";
import { nonNegativeInt } from "../../core/tokens/store.js";
import { policyNames } from "../../core/tokens/policies.js";
import type { FieldSchema, LogicalRequest, LogicalResponse, PathDef } from "../../core/types.js";
import type { StorageView } from "../../storage/types.js";
import { isValidName, quoted } from "../../core/input.js";
import { stringList } from "./input.js";

/** Vault's token role types: `default-*` lets the request's `type` choose, falling back to the named type. */
export type RoleTokenType = "service" | "batch" | "default-service" | "default-batch";

/** A token role (`auth/token/roles/<name>`): the rules for tokens created through `auth/token/create/<name>`. */
export interface TokenRole {
  name: string;
  allowedPolicies: string[];
  disallowedPolicies: string[];
  allowedPoliciesGlob: string[];
  disallowedPoliciesGlob: string[];
  orphan: boolean;
  renewable: boolean;
  pathSuffix: string;
  allowedEntityAliases: string[];
  tokenExplicitMaxTtl: number;
  tokenPeriod: number;
  tokenType: RoleTokenType;
  tokenBoundCidrs: string[];
  tokenNoDefaultPolicy: boolean;
  tokenNumUses: number;
  /** The deprecated `period`, `explicit_max_ttl` and `bound_cidrs` as last written: Vault echoes them on read. */
  period: number;
  explicitMaxTtl: number;
  boundCidrs: string[];
}

/** No defaults declared here: an update changes only the fields it names, so absent must stay distinguishable. */
const ROLE_FIELDS: Record<string, FieldSchema> = {
  allowed_policies: { type: "string_list", description: "Policies tokens may have, instead of a subset of the caller's" },
  disallowed_policies: { type: "string_list", description: "Policies tokens may never have" },
  allowed_policies_glob: { type: "string_list", description: "Like allowed_policies, as globs" },
  disallowed_policies_glob: { type: "string_list", description: "Like disallowed_policies, as globs" },
  orphan: { type: "bool", description: "Tokens have no parent" },
  renewable: { type: "bool", description: "Tokens can be renewed (default true)" },
  path_suffix: { type: "string", description: "Appended to the tokens' path, for revoke-prefix" },
  allowed_entity_aliases: { type: "string_list", description: "Entity aliases (globs) a create may name; stored only" },
  token_explicit_max_ttl: { type: "duration", description: "Hard limit on the tokens' life" },
  token_period: { type: "duration", description: "Makes tokens periodic" },
  token_type: { type: "string", description: "service, batch, default-service (default) or default-batch" },
  token_bound_cidrs: { type: "string_list", description: "CIDRs from which the tokens may be used" },
  token_no_default_policy: { type: "bool", description: "Leave the default policy out" },
  token_num_uses: { type: "int", description: "Uses of a token; 0 = unlimited" },
  period: { type: "duration", description: "Deprecated name of token_period" },
  explicit_max_ttl: { type: "duration", description: "Deprecated name of token_explicit_max_ttl" },
  bound_cidrs: { type: "string_list", description: "Deprecated name of token_bound_cidrs" },
};

const newRole = (name: string): TokenRole => ({
  name,
  allowedPolicies: [],
  disallowedPolicies: [],
  allowedPoliciesGlob: [],
  disallowedPoliciesGlob: [],
  orphan: false,
  renewable: true,
  pathSuffix: "",
  allowedEntityAliases: [],
  tokenExplicitMaxTtl: 0,
  tokenPeriod: 0,
  tokenType: "default-service",
  tokenBoundCidrs: [],
  tokenNoDefaultPolicy: false,
  tokenNumUses: 0,
  period: 0,
  explicitMaxTtl: 0,
  boundCidrs: [],
});

const roleKey = (name: string) => `roles/${name}`;

export const getRole = (storage: StorageView, name: string) => storage.getJSON<TokenRole>(roleKey(name));

/** `roles` (list) and `roles/<name>` (read, write merging into an existing role, delete), as Vault's token store has them. */
export function rolePaths(): PathDef[] {
  const list = async (req: LogicalRequest): Promise<LogicalResponse> => {
    const keys = await req.storage.list("roles/");
    if (keys.length === 0) throw notFound("");
    return { data: { keys } };
  };
  return [
    ...["roles", "roles/"].map((pattern) => ({ pattern, ops: { list }, help: "List the token roles." })),
    {
      pattern: "roles/:role_name",
      fields: ROLE_FIELDS,
      exists: async (req) => (await getRole(req.storage, roleName(req.params.role_name))) !== undefined,
      ops: {
        read: async (req) => {
          const role = await getRole(req.storage, roleName(req.params.role_name));
          if (!role) throw notFound("");
          return { data: renderRole(role) };
        },
        update: async (req) => {
          const name = roleName(req.params.role_name);
          const { role, warnings } = roleFromInput((await getRole(req.storage, name)) ?? newRole(name), req.data);
          await req.storage.putJSON(roleKey(name), role);
          return warnings.length > 0 ? { warnings } : undefined;
        },
        delete: async (req) => {
          await req.storage.delete(roleKey(roleName(req.params.role_name)));
          return undefined;
        },
      },
      help: "Token roles: the policies, orphan status, path suffix and limits of tokens created through them.",
    },
  ];
}

/** Vault's GenericNameRegex, 400 otherwise. */
export function roleName(name: string | undefined): string {
  if (name === undefined || !isValidName(name)) throw badRequest(`invalid role name ${quoted(name ?? "")}`);
  return name;
}

// Vault's pathSuffixSanitize is `\w[\w-.]+\w` matched anywhere in the suffix, which
// lets slashes through yet refuses the "v1" its own help suggests: here it is one
// path segment of word characters, `-` and `.` that starts and ends with a word character.
const PATH_SUFFIX = /^\w(?:[\w.-]*\w)?$/;

const present = (data: Record<string, unknown>, key: string) => data[key] !== undefined && data[key] !== null;

/**
 * Applies a role write to `base` as Vault's tokenStoreRoleCreateUpdate does:
 * each field given replaces the stored one; a deprecated name counts only
 * when its `token_` name is absent (with a warning when both are given).
 */
function roleFromInput(base: TokenRole, data: Record<string, unknown>): { role: TokenRole; warnings: string[] } {
  const role: TokenRole = { ...base };
  const warnings: string[] = [];
  const list = (key: string) => stringList(data[key], key);
  const seconds = (key: string) => nonNegativeInt(data[key], key);

  if (present(data, "orphan")) role.orphan = data.orphan === true;
  if (present(data, "renewable")) role.renewable = data.renewable === true;
  if (present(data, "path_suffix")) role.pathSuffix = pathSuffix(data.path_suffix);
  if (present(data, "allowed_policies")) role.allowedPolicies = policyNames(list("allowed_policies"));
  if (present(data, "disallowed_policies")) role.disallowedPolicies = policyNames(list("disallowed_policies"));
  if (present(data, "allowed_policies_glob")) role.allowedPoliciesGlob = policyNames(list("allowed_policies_glob"));
  if (present(data, "disallowed_policies_glob")) role.disallowedPoliciesGlob = policyNames(list("disallowed_policies_glob"));
  // Vault lower-cases and deduplicates entity aliases as it does policy names.
  if (present(data, "allowed_entity_aliases")) role.allowedEntityAliases = policyNames(list("allowed_entity_aliases"));
  if (present(data, "token_type")) role.tokenType = roleTokenType(data.token_type);
  if (present(data, "token_no_default_policy")) role.tokenNoDefaultPolicy = data.token_no_default_policy === true;
  if (present(data, "token_num_uses")) role.tokenNumUses = nonNegativeInt(data.token_num_uses, "token_num_uses");

  // Vault: a `token_` name wins over its deprecated one, with a warning when both
  // are given; a value written under the deprecated name is kept to be read back.
  const withLegacy = <T>(name: string, legacy: string, parse: (key: string) => T) => {
    if (present(data, name)) {
      if (present(data, legacy)) {
        warnings.push(`Both '${name}' and deprecated '${legacy}' value supplied, ignoring the deprecated value`);
      }
      return { value: parse(name), legacy: undefined };
    }
    if (!present(data, legacy)) return undefined;
    const value = parse(legacy);
    return { value, legacy: value };
  };
  const period = withLegacy("token_period", "period", seconds);
  if (period) [role.tokenPeriod, role.period] = [period.value, period.legacy ?? 0];
  const boundCidrs = withLegacy("token_bound_cidrs", "bound_cidrs", (key) => cidrs(list(key), key));
  if (boundCidrs) [role.tokenBoundCidrs, role.boundCidrs] = [boundCidrs.value, boundCidrs.legacy ?? []];
  const maxTtl = withLegacy("token_explicit_max_ttl", "explicit_max_ttl", seconds);
  if (maxTtl) [role.tokenExplicitMaxTtl, role.explicitMaxTtl] = [maxTtl.value, maxTtl.legacy ?? 0];
  checkBatchRole(role);
  return { role, warnings };
}

function pathSuffix(value: unknown): string {
  const suffix = typeof value === "string" ? value : "";
  if (suffix !== "" && !PATH_SUFFIX.test(suffix)) {
    throw badRequest(`given role path suffix contains invalid characters; must match \\w([\\w-.]*\\w)?`);
  }
  if (suffix.includes("..")) throw badRequest(`error registering path suffix: path cannot contain parent references`);
  return suffix;
}

function cidrs(list: string[], field: string): string[] {
  parseCidrs(list, field);
  return list;
}

function roleTokenType(value: unknown): RoleTokenType {
  if (value === "service" || value === "batch" || value === "default-service" || value === "default-batch") return value;
  throw badRequest(`invalid 'token_type' value ${JSON.stringify(value)}`);
}

/** Batch tokens cannot be revoked or renewed, so a role that makes them must make orphans that neither renew nor last. */
function checkBatchRole(role: TokenRole): void {
  if (role.tokenType !== "batch") return;
  const refuse = (what: string) => badRequest(`'token_type' cannot be 'batch' when role is set to generate ${what}`);
  if (!role.orphan) throw refuse("non-orphan tokens");
  if (role.tokenPeriod > 0) throw refuse("periodic tokens");
  if (role.renewable) throw refuse("renewable tokens");
  if (role.tokenExplicitMaxTtl > 0) throw refuse("tokens with an explicit max TTL");
}

/** Vault's role read: the deprecated fields beside their `token_` names; CIDRs and uses only when set. */
function renderRole(role: TokenRole): Record<string, unknown> {
  return {
    allowed_entity_aliases: role.allowedEntityAliases,
    allowed_policies: role.allowedPolicies,
    allowed_policies_glob: role.allowedPoliciesGlob,
    disallowed_policies: role.disallowedPolicies,
    disallowed_policies_glob: role.disallowedPoliciesGlob,
    explicit_max_ttl: role.explicitMaxTtl,
    name: role.name,
    orphan: role.orphan,
    path_suffix: role.pathSuffix,
    period: role.period,
    renewable: role.renewable,
    token_explicit_max_ttl: role.tokenExplicitMaxTtl,
    token_no_default_policy: role.tokenNoDefaultPolicy,
    token_period: role.tokenPeriod,
    token_type: role.tokenType,
    ...(role.tokenBoundCidrs.length > 0 && { token_bound_cidrs: role.tokenBoundCidrs }),
    ...(role.boundCidrs.length > 0 && { bound_cidrs: role.boundCidrs }),
    ...(role.tokenNumUses > 0 && { token_num_uses: role.tokenNumUses }),
  };
}
