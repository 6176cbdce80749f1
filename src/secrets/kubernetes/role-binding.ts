import { badRequest } from "../../core/errors.js";
import type { PolicyRule } from "../../kube/types.js";
import { isRecord, quoted } from "../../core/input.js";
import { parseDocument, rulesOf } from "./rules.js";
import type { KubeRoleKind } from "./types.js";

const FIELD = "role_binding_yaml";
const invalid = (why: string) => badRequest(`invalid "${FIELD}": ${why}`);
const RBAC_V1 = "rbac.authorization.k8s.io/v1";

/** What a `role_binding_yaml` document asks for, in the terms of the other dynamic modes. */
export type RoleBindingDefinition =
  | { mode: "generated"; kind: KubeRoleKind; rules: PolicyRule[]; clusterRoleBinding: boolean }
  | { mode: "predefined"; kind: KubeRoleKind; roleName: string; clusterRoleBinding: boolean };

/**
 * Reads reference 001's definition: an optional Role or ClusterRole and one
 * RoleBinding or ClusterRoleBinding, as YAML documents (`---`) or a JSON list.
 * A role in the document is made per lease (under the lease's own name); a
 * binding alone refers to an existing role. Names in the document only tie
 * the binding to its role, and subjects are ignored: the binding's subject
 * is the lease's service account, in a namespace the allowed namespaces rule.
 */
export function parseRoleBinding(text: string): RoleBindingDefinition {
  const parsed = parseDocument(text, FIELD, true);
  const docs = (Array.isArray(parsed) ? parsed : [parsed]).flatMap((d) => (Array.isArray(d) ? d : [d])).filter((d) => d !== null);
  const roles = docs.filter((d) => isRecord(d) && (d.kind === "Role" || d.kind === "ClusterRole"));
  const bindings = docs.filter((d) => isRecord(d) && (d.kind === "RoleBinding" || d.kind === "ClusterRoleBinding"));
  const other = docs.find((d) => !roles.includes(d) && !bindings.includes(d));
  if (other !== undefined) {
    const kind = isRecord(other) && typeof other.kind === "string" ? `kind ${quoted(other.kind)}` : "a document without a kind";
    throw invalid(`${kind} is not a Role, ClusterRole, RoleBinding or ClusterRoleBinding`);
  }
  if (roles.length > 1) throw invalid("must contain at most one Role or ClusterRole");
  if (bindings.length !== 1) throw invalid("must contain exactly one RoleBinding or ClusterRoleBinding");
  const binding = bindings[0];
  if (!isRecord(binding)) throw invalid("the binding must be an object");
  checkApiVersion(binding);
  const clusterRoleBinding = binding.kind === "ClusterRoleBinding";
  const ref = binding.roleRef;
  if (!isRecord(ref) || (ref.kind !== "Role" && ref.kind !== "ClusterRole") || typeof ref.name !== "string" || ref.name === "") {
    throw invalid(`${binding.kind}.roleRef must name a Role or ClusterRole (kind and name)`);
  }
  const kind: KubeRoleKind = ref.kind;
  if (!isRbacName(ref.name)) throw invalid(`${binding.kind}.roleRef.name must be a ${kind} name`);
  if (clusterRoleBinding && kind !== "ClusterRole") throw invalid("a ClusterRoleBinding can only refer to a ClusterRole");
  const role = roles[0];
  if (!isRecord(role)) return { mode: "predefined", kind, roleName: ref.name, clusterRoleBinding };
  checkApiVersion(role);
  const name = isRecord(role.metadata) ? role.metadata.name : undefined;
  if (role.kind !== kind || name !== ref.name) {
    throw invalid(`${binding.kind}.roleRef (${kind} ${quoted(ref.name)}) does not refer to the ${String(role.kind)} in the document`);
  }
  if (!Array.isArray(role.rules)) throw invalid(`${kind}.rules must be a list`);
  return { mode: "generated", kind, rules: rulesOf(role.rules, `${kind}.rules`, kind, invalid), clusterRoleBinding };
}

/**
 * What the API server accepts as the name of a Role or ClusterRole (RBAC's
 * ValidateRBACName, a path segment name): not empty, not "." or "..", no "/" or "%".
 */
export const isRbacName = (name: string) => name !== "" && name !== "." && name !== ".." && !/[/%]/.test(name);

function checkApiVersion(doc: Record<string, unknown>): void {
  if (doc.apiVersion !== undefined && doc.apiVersion !== RBAC_V1) {
    throw invalid(`${String(doc.kind)} must have apiVersion ${RBAC_V1}`);
  }
}
