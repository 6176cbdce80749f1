import { badRequest, notFound } from "../../core/errors.js";
import { parseCidrs } from "../../core/net.js";
import { ROOT_POLICY_NAME } from "../../core/policy/builtin.js";
import type { FieldSchema, LogicalRequest, LogicalResponse, PathDef } from "../../core/types.js";
import { checkStarAlone } from "../../core/glob.js";
import { isRecord, isValidName, quoted, stringList } from "../../core/input.js";
import { parseNamespaceSelector } from "./namespace-selector.js";
import { configsUsingAccessId, deleteAccessId, deleteRole, getRole, listRoles, putRole } from "./store.js";
import type { AliasNameSource, Role } from "./types.js";

/**
 * Role fields. No defaults are declared here: a write to an existing role
 * changes only the fields it names (Vault's role update), so "absent" must
 * stay distinguishable from "default".
 */
export const ROLE_FIELDS: Record<string, FieldSchema> = {
  bound_service_account_names: { type: "string_list", description: "Service account names (globs); \"*\" for any" },
  bound_service_account_namespaces: { type: "string_list", description: "Namespaces (globs); \"*\" for any" },
  bound_service_account_namespace_selector: {
    type: "any",
    description: "A label selector (matchLabels, matchExpressions) for namespaces, JSON or YAML",
  },
  bound_pod_names: { type: "string_list", description: "Pod names (globs); a token without a pod claim is refused" },
  bound_config_names: { type: "string_list", description: "Cluster configs through which the role may log in; empty = any" },
  audience: { type: "any", description: "One audience or a list; the token must carry one of them" },
  alias_name_source: { type: "string", description: "serviceaccount_uid (default) or serviceaccount_name" },
  token_ttl: { type: "duration", description: "TTL of issued tokens" },
  token_max_ttl: { type: "duration", description: "Maximum lifetime of issued tokens" },
  token_explicit_max_ttl: { type: "duration", description: "Hard cap on the lifetime of issued tokens" },
  token_period: { type: "duration", description: "Makes issued tokens periodic" },
  token_num_uses: { type: "int", description: "Uses of an issued token; 0 = unlimited" },
  token_policies: { type: "string_list", description: "Policies of issued tokens" },
  token_type: { type: "string", description: "service, batch or default" },
  token_bound_cidrs: { type: "string_list", description: "CIDRs from which issued tokens (and logins) may be used" },
  token_no_default_policy: { type: "bool", description: "Leave the default policy out" },
  policies: { type: "string_list", description: "Legacy name of token_policies" },
  ttl: { type: "duration", description: "Legacy name of token_ttl" },
  max_ttl: { type: "duration", description: "Legacy name of token_max_ttl" },
  period: { type: "duration", description: "Legacy name of token_period" },
  num_uses: { type: "int", description: "Legacy name of token_num_uses" },
  bound_cidrs: { type: "string_list", description: "Legacy name of token_bound_cidrs" },
};

export const EMPTY_ROLE: Role = {
  boundServiceAccountNames: [],
  boundServiceAccountNamespaces: [],
  namespaceSelector: "",
  boundPodNames: [],
  boundConfigNames: [],
  audiences: [],
  aliasNameSource: "serviceaccount_uid",
  tokenTtl: 0,
  tokenMaxTtl: 0,
  tokenExplicitMaxTtl: 0,
  tokenPeriod: 0,
  tokenNumUses: 0,
  tokenPolicies: [],
  tokenType: "default",
  tokenBoundCidrs: [],
  tokenNoDefaultPolicy: false,
  accessId: "",
};

/** `role` and `role/` list; `role/<name>` reads, writes (merging into an existing role) and deletes. */
export function rolePaths(): PathDef[] {
  const list = async (req: LogicalRequest): Promise<LogicalResponse> => {
    const keys = await listRoles(req.storage);
    if (keys.length === 0) throw notFound("");
    return { data: { keys } };
  };
  return [
    ...["role", "role/"].map((pattern) => ({ pattern, ops: { list }, help: "List the roles." })),
    {
      pattern: "role/:name",
      fields: ROLE_FIELDS,
      exists: async (req) => (await getRole(req.storage, roleName(req))) !== undefined,
      ops: {
        read: async (req) => {
          const role = await getRole(req.storage, roleName(req));
          if (!role) throw notFound("");
          return { data: renderRole(role) };
        },
        update: async (req) => {
          const name = roleName(req);
          const existing = await getRole(req.storage, name);
          await putRole(req.storage, name, roleFromInput(existing ?? EMPTY_ROLE, req.data));
          return undefined;
        },
        delete: async (req) => {
          const name = roleName(req);
          const role = await getRole(req.storage, name);
          if (role?.accessId) await refuseIfSigning(req, role.accessId);
          await req.storage.transaction(async (tx) => {
            await deleteRole(tx, name);
            if (role?.accessId) await deleteAccessId(tx, role.accessId);
          });
          return undefined;
        },
      },
      help: "Who may log in (service accounts, namespaces, pods, clusters, audiences) and the tokens they get.",
    },
  ];
}

/** An access id signs through its gateway configs; deleting it under them would break their logins silently. */
export async function refuseIfSigning(req: LogicalRequest, accessId: string): Promise<void> {
  const users = await configsUsingAccessId(req.storage, accessId);
  if (users.length > 0) {
    throw badRequest(`access id "${accessId}" is used by config ${users.map((u) => `"${u}"`).join(", ")}; delete that first`);
  }
}

function roleName(req: LogicalRequest): string {
  const name = req.params.name;
  if (!isValidName(name)) throw badRequest(`invalid role name ${quoted(name)}`);
  return name;
}

const present = (data: Record<string, unknown>, key: string) => data[key] !== undefined && data[key] !== null;

/**
 * Applies a role write to `base`: each field given replaces the stored one;
 * the legacy names (`policies`, `ttl`, ...) count only when the `token_` name
 * is absent, as in Vault's tokenutil. Then checks the whole role.
 */
export function roleFromInput(base: Role, data: Record<string, unknown>): Role {
  const role: Role = { ...base };
  const list = (key: string) => stringList(data[key], key);
  // The core has coerced these to whole seconds or integers.
  const num = (key: string, legacy?: string): number | undefined => {
    const value = present(data, key) ? data[key] : legacy !== undefined ? data[legacy] : undefined;
    return typeof value === "number" ? value : undefined;
  };
  if (present(data, "bound_service_account_names")) role.boundServiceAccountNames = list("bound_service_account_names");
  if (present(data, "bound_service_account_namespaces")) {
    role.boundServiceAccountNamespaces = list("bound_service_account_namespaces");
  }
  if (present(data, "bound_service_account_namespace_selector")) {
    role.namespaceSelector = selectorText(data.bound_service_account_namespace_selector);
  }
  if (present(data, "bound_pod_names")) role.boundPodNames = list("bound_pod_names");
  if (present(data, "bound_config_names")) role.boundConfigNames = list("bound_config_names");
  if (present(data, "audience")) role.audiences = audiencesOf(data.audience);
  if (present(data, "alias_name_source")) role.aliasNameSource = aliasNameSourceOf(data.alias_name_source);
  const policiesField = present(data, "token_policies") ? "token_policies" : present(data, "policies") ? "policies" : undefined;
  if (policiesField) role.tokenPolicies = list(policiesField);
  refuseRootPolicy(role.tokenPolicies, policiesField ?? "token_policies");
  if (present(data, "token_bound_cidrs")) role.tokenBoundCidrs = list("token_bound_cidrs");
  else if (present(data, "bound_cidrs")) role.tokenBoundCidrs = list("bound_cidrs");
  role.tokenTtl = num("token_ttl", "ttl") ?? role.tokenTtl;
  role.tokenMaxTtl = num("token_max_ttl", "max_ttl") ?? role.tokenMaxTtl;
  role.tokenExplicitMaxTtl = num("token_explicit_max_ttl") ?? role.tokenExplicitMaxTtl;
  role.tokenPeriod = num("token_period", "period") ?? role.tokenPeriod;
  role.tokenNumUses = num("token_num_uses", "num_uses") ?? role.tokenNumUses;
  if (present(data, "token_type")) role.tokenType = tokenTypeOf(data.token_type);
  if (present(data, "token_no_default_policy")) role.tokenNoDefaultPolicy = data.token_no_default_policy === true;
  checkRole(role);
  return role;
}

/**
 * Vault refuses to let an auth method create a root token ("auth methods
 * cannot create root tokens"); refusing `root` when the role is written means
 * whoever may write roles cannot mint one through a login. The token store
 * trims and lower-cases policy names, so " Root " counts as root here too. A
 * role stored before this check is refused on its next write as well.
 */
function refuseRootPolicy(policies: string[], field: string): void {
  if (policies.some((p) => p.trim().toLowerCase() === ROOT_POLICY_NAME)) {
    throw badRequest(`field "${field}" must not contain "${ROOT_POLICY_NAME}": auth methods cannot create root tokens`);
  }
}

/** Vault's role checks, with messages naming the field. */
function checkRole(role: Role): void {
  if (role.boundServiceAccountNames.length === 0) throw badRequest(`"bound_service_account_names" can not be empty`);
  if (role.boundServiceAccountNamespaces.length === 0 && role.namespaceSelector === "") {
    throw badRequest(
      `"bound_service_account_namespaces" can not be empty if "bound_service_account_namespace_selector" is not set`,
    );
  }
  checkStarAlone(role.boundServiceAccountNames, "bound_service_account_names");
  checkStarAlone(role.boundServiceAccountNamespaces, "bound_service_account_namespaces");
  checkStarAlone(role.boundPodNames, "bound_pod_names");
  checkStarAlone(role.boundConfigNames, "bound_config_names");
  if (role.namespaceSelector !== "") parseNamespaceSelector(role.namespaceSelector);
  if (role.tokenNumUses < 0) throw badRequest(`field "token_num_uses" must not be negative`);
  if (role.tokenMaxTtl > 0 && role.tokenTtl > role.tokenMaxTtl) {
    throw badRequest(`"token_ttl" cannot be greater than "token_max_ttl"`);
  }
  if (role.tokenType === "batch" && role.tokenPeriod > 0) throw badRequest(`"token_type" batch cannot be periodic ("token_period")`);
  if (role.tokenType === "batch" && role.tokenNumUses > 0) {
    throw badRequest(`"token_type" batch cannot have a limited number of uses ("token_num_uses")`);
  }
  parseCidrs(role.tokenBoundCidrs, "token_bound_cidrs");
}

/** The selector as JSON or YAML text; a JSON body may carry it as an object. */
function selectorText(value: unknown): string {
  if (typeof value === "string") return value.trim();
  if (isRecord(value)) return JSON.stringify(value);
  throw badRequest(`field "bound_service_account_namespace_selector" must be a JSON or YAML string or an object`);
}

/** Vault takes one audience; latchkey also takes a list (or a comma-separated string). */
function audiencesOf(value: unknown): string[] {
  if (typeof value === "string") return stringList(value, "audience");
  if (Array.isArray(value)) return stringList(value, "audience");
  throw badRequest(`field "audience" must be a string or a list of strings`);
}

function aliasNameSourceOf(value: unknown): AliasNameSource {
  if (value === "serviceaccount_uid" || value === "serviceaccount_name") return value;
  throw badRequest(`field "alias_name_source" must be "serviceaccount_uid" or "serviceaccount_name"`);
}

function tokenTypeOf(value: unknown): Role["tokenType"] {
  if (value === "service" || value === "batch" || value === "default") return value;
  if (value === "default-service") return "service";
  if (value === "default-batch") return "batch";
  throw badRequest(`field "token_type" must be "service", "batch" or "default"`);
}

/** The role as Vault renders it; `audience` is a string when there is one (Vault's type), a list when there are several. */
export function renderRole(role: Role): Record<string, unknown> {
  return {
    alias_name_source: role.aliasNameSource,
    audience: role.audiences.length <= 1 ? (role.audiences[0] ?? "") : role.audiences,
    bound_config_names: role.boundConfigNames,
    bound_pod_names: role.boundPodNames,
    bound_service_account_names: role.boundServiceAccountNames,
    bound_service_account_namespace_selector: role.namespaceSelector,
    bound_service_account_namespaces: role.boundServiceAccountNamespaces,
    token_bound_cidrs: role.tokenBoundCidrs,
    token_explicit_max_ttl: role.tokenExplicitMaxTtl,
    token_max_ttl: role.tokenMaxTtl,
    token_no_default_policy: role.tokenNoDefaultPolicy,
    token_num_uses: role.tokenNumUses,
    token_period: role.tokenPeriod,
    token_policies: role.tokenPolicies,
    token_ttl: role.tokenTtl,
    token_type: role.tokenType,
    ...(role.accessId !== "" && { access_id: role.accessId }),
  };
}
