import { LatchkeyError, badRequest, notFound } from "../../core/errors.js";
import type { FieldSchema, LogicalRequest, PathDef } from "../../core/types.js";
import { checkStarAlone } from "../../core/glob.js";
import { isValidName, quoted, stringList } from "../../core/input.js";
import { parseNamespaceSelector, type LabelSelector } from "../../auth/kubernetes/namespace-selector.js";
import { listPaths } from "./list-paths.js";
import { checkNameTemplate, metadataMap } from "./objects.js";
import { isRbacName, parseRoleBinding } from "./role-binding.js";
import { parseRules, rulesText as documentText } from "./rules.js";
import { deleteRole, getRole, getTarget, listRoles, putRole } from "./store.js";
import { MAX_PREPARED } from "./prepared.js";
import type { EngineRole, KubeRoleKind, RoleMode } from "./types.js";

export const ROLE_FIELDS: Record<string, FieldSchema> = {
  service_account_name: { type: "string", description: "Fixed mode: the existing service account to issue tokens for" },
  kubernetes_role_name: { type: "string", description: "Dynamic mode: the existing Role or ClusterRole to bind a temporary service account to" },
  kubernetes_role_type: { type: "string", description: "Role (default) or ClusterRole: the kind of the predefined or generated role" },
  generated_role_rules: { type: "any", description: "Dynamic mode: PolicyRules (JSON or YAML, a list or {rules: [...]}) of a role made per lease" },
  role_binding_yaml: {
    type: "any",
    description: "Dynamic mode: a Role or ClusterRole and a RoleBinding or ClusterRoleBinding (YAML documents); subjects are ignored",
  },
  allowed_kubernetes_namespaces: { type: "string_list", description: "Namespaces credentials may be issued in; \"*\" for any" },
  allowed_kubernetes_namespace_selector: {
    type: "any",
    description: "A label selector (matchLabels, matchExpressions; JSON or YAML): namespaces whose labels match are allowed too",
  },
  target: { type: "string", description: "The target to connect through; default the mount's config" },
  token_default_ttl: { type: "duration", description: "Lease TTL when the request names none; default the mount's" },
  token_max_ttl: { type: "duration", description: "Longest lease TTL; default the mount's" },
  token_default_audiences: { type: "string_list", description: "Token audiences when the request names none; default the API server's" },
  extra_labels: { type: "map", description: "Labels added to every object created for a lease" },
  extra_annotations: { type: "map", description: "Annotations added to every object created for a lease" },
  name_template: { type: "string", description: "Names of created objects, with {{role}}, {{random}} (required), {{unix_time}}, {{display_name}}" },
  prepared_credentials: {
    type: "int",
    default: 0,
    description:
      "Credentials whose objects are kept made ahead per namespace (fixed: the bound Secret; dynamic: the ServiceAccount, role and binding), so that an issue waits only for its TokenRequest; at most 8, unused ones deleted after a minute",
  },
};

/** `roles` and `roles/` list; `roles/<name>` reads, writes (replacing the whole role) and deletes. */
export function rolePaths(): PathDef[] {
  return [
    ...listPaths("roles", "List the roles.", listRoles),
    {
      pattern: "roles/:name",
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
          const role = roleFromInput(req.data);
          if (role.target !== "" && !(await getTarget(req.storage, role.target))) {
            throw badRequest(`target ${quoted(role.target)} does not exist`);
          }
          await putRole(req.storage, name, role);
          return undefined;
        },
        delete: async (req) => {
          await deleteRole(req.storage, roleName(req));
          return undefined;
        },
      },
      help: "What credentials for a cluster look like: a fixed service account, or a temporary one bound to a role.",
    },
  ];
}

export function roleName(req: LogicalRequest): string {
  const name = req.params.name ?? req.params.role;
  if (!isValidName(name)) throw badRequest(`invalid role name ${quoted(name)}`);
  return name;
}

/** Given, and not blank: a field that is only whitespace is stored trimmed to nothing, so it counts as absent. */
const present = (d: Record<string, unknown>, key: string) => {
  const value = d[key];
  return value !== undefined && value !== null && !(typeof value === "string" && value.trim() === "");
};
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Checks a whole role, refusing at write time what could only fail at first use; messages name the field. */
export function roleFromInput(d: Record<string, unknown>): EngineRole {
  const str = (key: string) => (typeof d[key] === "string" ? d[key].trim() : "");
  const modes: [RoleMode | "yaml", string][] = [
    ["fixed", "service_account_name"],
    ["predefined", "kubernetes_role_name"],
    ["generated", "generated_role_rules"],
    ["yaml", "role_binding_yaml"],
  ];
  const given = modes.filter(([, field]) => present(d, field));
  if (given.length !== 1) {
    throw badRequest(`give exactly one of "service_account_name", "kubernetes_role_name", "generated_role_rules" or "role_binding_yaml"`);
  }
  const yaml = given[0][0] === "yaml" ? documentText(d.role_binding_yaml, "role_binding_yaml") : "";
  const definition = yaml !== "" ? parseRoleBinding(yaml) : undefined;
  const mode = definition?.mode ?? (given[0][0] as RoleMode);
  const kind = roleKindOf(d.kubernetes_role_type);
  // A fixed-mode role reads back with the default "Role", as Vault's does, so
  // that one must be accepted on write; only a ClusterRole there is a mistake.
  if (mode === "fixed" && kind !== "Role") {
    throw badRequest(`"kubernetes_role_type" applies only with "kubernetes_role_name" or "generated_role_rules"`);
  }
  if (definition && present(d, "kubernetes_role_type") && kind !== definition.kind) {
    throw badRequest(`"kubernetes_role_type" ${kind} contradicts the ${definition.kind} of "role_binding_yaml"`);
  }
  const role: EngineRole = {
    mode,
    serviceAccountName: str("service_account_name"),
    kubernetesRoleName: definition?.mode === "predefined" ? definition.roleName : str("kubernetes_role_name"),
    kubernetesRoleType: definition?.kind ?? kind,
    generatedRoleRules: given[0][0] === "generated" ? documentText(d.generated_role_rules) : "",
    rules: definition?.mode === "generated" ? definition.rules : [],
    roleBindingYaml: yaml,
    clusterRoleBinding: definition?.clusterRoleBinding ?? false,
    allowedKubernetesNamespaces: stringList(d.allowed_kubernetes_namespaces, "allowed_kubernetes_namespaces"),
    allowedKubernetesNamespaceSelector: present(d, "allowed_kubernetes_namespace_selector")
      ? documentText(d.allowed_kubernetes_namespace_selector, SELECTOR_FIELD)
      : "",
    target: str("target"),
    tokenDefaultTtl: typeof d.token_default_ttl === "number" ? d.token_default_ttl : 0,
    tokenMaxTtl: typeof d.token_max_ttl === "number" ? d.token_max_ttl : 0,
    tokenDefaultAudiences: stringList(d.token_default_audiences, "token_default_audiences"),
    extraLabels: metadataMap(d.extra_labels, "extra_labels"),
    extraAnnotations: metadataMap(d.extra_annotations, "extra_annotations"),
    nameTemplate: str("name_template"),
    preparedCredentials: preparedCount(d.prepared_credentials),
  };
  if (role.generatedRoleRules !== "") role.rules = parseRules(role.generatedRoleRules, kind);
  if (mode === "fixed" && (role.serviceAccountName.length > 253 || !DNS_SUBDOMAIN.test(role.serviceAccountName))) {
    throw badRequest(`field "service_account_name" must be a service account name (a DNS-1123 subdomain)`);
  }
  if (mode === "predefined" && !definition && !isRbacName(role.kubernetesRoleName)) {
    throw badRequest(`field "kubernetes_role_name" must be a ${kind} name`);
  }
  const namespaces = role.allowedKubernetesNamespaces;
  if (namespaces.length === 0 && role.allowedKubernetesNamespaceSelector === "") {
    throw badRequest(`"allowed_kubernetes_namespaces" can not be empty ("*" allows any) if "${SELECTOR_FIELD}" is not set`);
  }
  if (role.allowedKubernetesNamespaceSelector !== "") namespaceSelector(role.allowedKubernetesNamespaceSelector);
  checkStarAlone(namespaces, "allowed_kubernetes_namespaces");
  const bad = namespaces.find((ns) => ns !== "*" && (ns.length > 63 || !DNS_LABEL.test(ns)));
  if (bad !== undefined) throw badRequest(`field "allowed_kubernetes_namespaces": ${quoted(bad)} is not a namespace name`);
  if (role.tokenMaxTtl > 0 && role.tokenDefaultTtl > role.tokenMaxTtl) {
    throw badRequest(`"token_default_ttl" cannot be greater than "token_max_ttl"`);
  }
  if (role.target !== "" && !isValidName(role.target)) throw badRequest(`invalid target name ${quoted(role.target)}`);
  if (role.nameTemplate !== "") checkNameTemplate(role.nameTemplate);
  return role;
}

const SELECTOR_FIELD = "allowed_kubernetes_namespace_selector";

/**
 * The auth method's selector parser, which is Vault's; its messages name the
 * auth method's field, so they are renamed to this one.
 */
export function namespaceSelector(text: string): LabelSelector {
  try {
    return parseNamespaceSelector(text);
  } catch (err) {
    if (err instanceof LatchkeyError) throw badRequest(err.message.replace(/"bound_service_account_namespace_selector"/g, `"${SELECTOR_FIELD}"`));
    throw err;
  }
}

function preparedCount(value: unknown): number {
  if (value === undefined || value === null) return 0;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > MAX_PREPARED) {
    throw badRequest(`field "prepared_credentials" must be a whole number from 0 to ${MAX_PREPARED}`);
  }
  return value;
}

function roleKindOf(value: unknown): KubeRoleKind {
  if (value === undefined || value === null || value === "") return "Role";
  if (typeof value === "string" && value.toLowerCase() === "role") return "Role";
  if (typeof value === "string" && value.toLowerCase() === "clusterrole") return "ClusterRole";
  throw badRequest(`field "kubernetes_role_type" must be "Role" or "ClusterRole"`);
}

/** The role as Vault's engine renders it, with the stored rules as written. */
export function renderRole(r: EngineRole): Record<string, unknown> {
  return {
    service_account_name: r.serviceAccountName,
    // A role written as role_binding_yaml reads back as that alone, so that it can be written back as read.
    kubernetes_role_name: r.roleBindingYaml === "" ? r.kubernetesRoleName : "",
    kubernetes_role_type: r.kubernetesRoleType,
    generated_role_rules: r.generatedRoleRules,
    role_binding_yaml: r.roleBindingYaml,
    allowed_kubernetes_namespaces: r.allowedKubernetesNamespaces,
    allowed_kubernetes_namespace_selector: r.allowedKubernetesNamespaceSelector,
    target: r.target,
    token_default_ttl: r.tokenDefaultTtl,
    token_max_ttl: r.tokenMaxTtl,
    token_default_audiences: r.tokenDefaultAudiences,
    extra_labels: r.extraLabels,
    extra_annotations: r.extraAnnotations,
    name_template: r.nameTemplate,
    prepared_credentials: r.preparedCredentials ?? 0,
  };
}
