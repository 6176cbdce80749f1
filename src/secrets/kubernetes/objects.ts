import { randomInt } from "node:crypto";
import { badRequest } from "../../core/errors.js";
import { isRecord, quoted } from "../../core/input.js";
import type { ObjectKind, ObjectRef } from "./types.js";

/** Every object the engine creates carries these, so that it can be found and told apart from others. */
export const MANAGED_BY = { "app.kubernetes.io/managed-by": "latchkey" } as const;
export const MOUNT_LABEL = "latchkey.io/mount";
export const LEASE_LABEL = "latchkey.io/lease";
const RESERVED_PREFIX = "latchkey.io/";

interface KindInfo {
  apiVersion: string;
  /** Path of the API group version: `/api/v1` or `/apis/<group>/<version>`. */
  base: string;
  /** Plural resource, qualified by its group as kubectl prints it (`roles.rbac.authorization.k8s.io`). */
  resource: string;
  namespaced: boolean;
}

const RBAC = { apiVersion: "rbac.authorization.k8s.io/v1", base: "/apis/rbac.authorization.k8s.io/v1" };

export const KINDS: Record<ObjectKind, KindInfo> = {
  ServiceAccount: { apiVersion: "v1", base: "/api/v1", resource: "serviceaccounts", namespaced: true },
  Secret: { apiVersion: "v1", base: "/api/v1", resource: "secrets", namespaced: true },
  Role: { ...RBAC, resource: "roles", namespaced: true },
  ClusterRole: { ...RBAC, resource: "clusterroles", namespaced: false },
  RoleBinding: { ...RBAC, resource: "rolebindings", namespaced: true },
  ClusterRoleBinding: { ...RBAC, resource: "clusterrolebindings", namespaced: false },
  // Only read (allowed_kubernetes_namespace_selector), never created.
  Namespace: { apiVersion: "v1", base: "/api/v1", resource: "namespaces", namespaced: false },
  // A target's own client certificate (targets/<name>/csr), never a lease's.
  CertificateSigningRequest: {
    apiVersion: "certificates.k8s.io/v1",
    base: "/apis/certificates.k8s.io/v1",
    resource: "certificatesigningrequests",
    namespaced: false,
  },
};

/** `serviceaccounts`, `roles.rbac.authorization.k8s.io`: how the API server names a resource in its messages. */
export function qualifiedResource(kind: ObjectKind): string {
  const info = KINDS[kind];
  return info.base === "/api/v1" ? info.resource : `${info.resource}.${info.base.split("/")[2]}`;
}

export function collectionPath(ref: Omit<ObjectRef, "name">): string {
  const info = KINDS[ref.kind];
  const ns = info.namespaced ? `/namespaces/${encodeURIComponent(ref.namespace ?? "")}` : "";
  return `${info.base}${ns}/${info.resource}`;
}

export const objectPath = (ref: ObjectRef) => `${collectionPath(ref)}/${encodeURIComponent(ref.name)}`;

/** The body's `apiVersion`, `kind` and `metadata` for `ref`. */
export function objectHead(ref: ObjectRef, labels: Record<string, string>, annotations: Record<string, string>) {
  return {
    apiVersion: KINDS[ref.kind].apiVersion,
    kind: ref.kind,
    metadata: {
      name: ref.name,
      ...(KINDS[ref.kind].namespaced && { namespace: ref.namespace }),
      labels,
      ...(Object.keys(annotations).length > 0 && { annotations }),
    },
  };
}

export const DEFAULT_NAME_TEMPLATE = "latchkey-{{role}}-{{random}}";
const PLACEHOLDER = /\{\{\s*([a-z_]+)\s*\}\}/g;
const PLACEHOLDERS = ["role", "random", "unix_time", "display_name"] as const;
type Placeholder = (typeof PLACEHOLDERS)[number];
/** Each value is cut to this many characters, so that a template checked at write time fits at any later time. */
const WIDTH: Record<Placeholder, number> = { role: 24, random: 8, unix_time: 10, display_name: 16 };
/** A DNS-1123 label: valid for every kind the engine creates, and short enough to read. */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789";

/** A lower-case DNS-1123 fragment of `value`, at most `width` long. */
function fragment(value: string, width: number): string {
  return value
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/-+/g, "-")
    .slice(0, width)
    .replace(/^-+|-+$/g, "");
}

export function randomSuffix(length = WIDTH.random): string {
  let out = "";
  for (let i = 0; i < length; i++) out += ALPHABET[randomInt(ALPHABET.length)];
  return out;
}

/** Renders a name template; `{{random}}` is required, so two leases never collide. */
export function renderName(template: string, vars: Record<Placeholder, string>): string {
  return template.replace(PLACEHOLDER, (_m, key: Placeholder) => fragment(vars[key], WIDTH[key]));
}

/**
 * Refuses a template whose names Kubernetes would refuse: unknown
 * placeholders, no `{{random}}`, or a result that is not a DNS-1123 label of
 * at most 63 characters even with every value at its longest.
 */
export function checkNameTemplate(template: string): void {
  const field = `field "name_template"`;
  const keys = [...template.matchAll(PLACEHOLDER)].map((m) => m[1]);
  const unknown = keys.find((k) => !PLACEHOLDERS.some((p) => p === k));
  if (unknown !== undefined) throw badRequest(`${field}: unknown placeholder "{{${unknown}}}" (use ${PLACEHOLDERS.map((p) => `{{${p}}}`).join(", ")})`);
  if (!keys.includes("random")) throw badRequest(`${field} must contain {{random}}, so that every lease gets its own names`);
  const longest = template.replace(PLACEHOLDER, (_m, key: Placeholder) => "a".repeat(WIDTH[key]));
  if (longest.length > 63) throw badRequest(`${field} makes names longer than 63 characters`);
  if (!DNS_LABEL.test(longest)) throw badRequest(`${field} must make lower-case DNS-1123 names (a-z, 0-9 and "-")`);
}

const LABEL_NAME = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function checkKey(key: string, field: string): void {
  const slash = key.lastIndexOf("/");
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  const validPrefix = prefix === undefined || (prefix.length <= 253 && DNS_SUBDOMAIN.test(prefix));
  if (!validPrefix || name.length > 63 || !LABEL_NAME.test(name)) {
    throw badRequest(`field "${field}": ${JSON.stringify(key.slice(0, 80))} is not a valid Kubernetes key`);
  }
  if (key.startsWith(RESERVED_PREFIX) || key in MANAGED_BY) {
    throw badRequest(`field "${field}": ${JSON.stringify(key)} is set by latchkey itself`);
  }
}

/** `extra_labels` / `extra_annotations`: string maps whose keys (and, for labels, values) Kubernetes accepts. */
export function metadataMap(value: unknown, field: "extra_labels" | "extra_annotations"): Record<string, string> {
  if (value === undefined || value === null || value === "") return {};
  if (!isRecord(value)) throw badRequest(`field "${field}" must be an object of strings`);
  const out: Record<string, string> = {};
  for (const [key, v] of Object.entries(value)) {
    if (typeof v !== "string") throw badRequest(`field "${field}": the value of ${quoted(key)} must be a string`);
    checkKey(key, field);
    if (field === "extra_labels" && v !== "" && (v.length > 63 || !LABEL_NAME.test(v))) {
      throw badRequest(`field "${field}": the value of ${JSON.stringify(key)} is not a valid label value`);
    }
    out[key] = v;
  }
  return out;
}
