import { parse as parseYaml, parseAllDocuments } from "yaml";
import { badRequest } from "../../core/errors.js";
import { CLIENT_YAML_OPTIONS, DEFAULT_MAX_JSON_DEPTH, depthMessage, yamlExceedsDepth } from "../../core/json-depth.js";
import type { PolicyRule } from "../../kube/types.js";
import { isRecord, quoted } from "../../core/input.js";
import type { KubeRoleKind } from "./types.js";

const FIELD = "generated_role_rules";
const RULE_KEYS = ["apiGroups", "resources", "resourceNames", "verbs", "nonResourceURLs"] as const;
type RuleKey = (typeof RULE_KEYS)[number];

const invalid = (why: string) => badRequest(`invalid "${FIELD}": ${why}`);

/** A document field as stored: text as written (a JSON body may carry it as a list or an object). */
export function rulesText(value: unknown, field = FIELD): string {
  if (typeof value === "string") return value.trim();
  if (Array.isArray(value) || isRecord(value)) return JSON.stringify(value);
  throw badRequest(`invalid "${field}": must be a JSON or YAML string, a list or an object`);
}

/**
 * Parses PolicyRules written as a list or as `rules: [...]` (Vault's format),
 * JSON or YAML, and refuses at write time what the API server's RBAC
 * validation would refuse at first use (rbac/validation ValidatePolicyRule):
 * no verbs, resource rules without apiGroups or resources, non-resource URLs
 * mixed with resources or in a namespaced Role.
 */
export function parseRules(text: string, kind: KubeRoleKind): PolicyRule[] {
  const doc = parseDocument(text, FIELD);
  const list = isRecord(doc) && Object.keys(doc).length === 1 && "rules" in doc ? doc.rules : doc;
  if (!Array.isArray(list)) throw invalid("must be a list of rules or an object with a \"rules\" list");
  return rulesOf(list, "rules", kind, invalid);
}

/** Checks each rule of `list` (found at `at`); `fail` makes the 400 that names the field. */
export function rulesOf(list: unknown[], at: string, kind: KubeRoleKind, fail: (why: string) => Error): PolicyRule[] {
  if (list.length === 0) throw fail(`${at} must contain at least one rule`);
  return list.map((item, i) => ruleOf(item, `${at}[${i}]`, kind, fail));
}

/** One JSON or YAML document; `all` reads a multi-document YAML stream (`---`) as a list. */
export function parseDocument(text: string, field: string, all = false): unknown {
  const fail = (why: string) => badRequest(`invalid "${field}": ${why}`);
  if (text === "") throw fail("must not be empty");
  if (yamlExceedsDepth(text, DEFAULT_MAX_JSON_DEPTH)) throw fail(depthMessage(DEFAULT_MAX_JSON_DEPTH));
  try {
    // YAML 1.2 is a superset of JSON, so one parser reads both.
    if (!all) return parseYaml(text, CLIENT_YAML_OPTIONS);
    return parseAllDocuments(text, CLIENT_YAML_OPTIONS).map((doc) => {
      if (doc.errors.length > 0) throw doc.errors[0];
      return doc.toJS({ maxAliasCount: CLIENT_YAML_OPTIONS.maxAliasCount });
    });
  } catch {
    throw fail("not valid JSON or YAML");
  }
}

function ruleOf(item: unknown, at: string, kind: KubeRoleKind, invalid: (why: string) => Error): PolicyRule {
  if (!isRecord(item)) throw invalid(`${at} must be an object`);
  const rule: Partial<Record<RuleKey, string[]>> = {};
  for (const [key, value] of Object.entries(item)) {
    if (!RULE_KEYS.some((k) => k === key)) throw invalid(`${at} has unknown key ${quoted(key)}`);
    const list = Array.isArray(value) ? value : [value];
    if (!list.every((v): v is string => typeof v === "string")) throw invalid(`${at}.${key} must be a list of strings`);
    rule[key as RuleKey] = list;
  }
  const { apiGroups = [], resources = [], resourceNames = [], verbs = [], nonResourceURLs = [] } = rule;
  if (verbs.length === 0) throw invalid(`${at}.verbs must contain at least one value`);
  if (nonResourceURLs.length > 0) {
    if (kind === "Role") throw invalid(`${at}: a Role cannot grant nonResourceURLs (set "kubernetes_role_type" to ClusterRole)`);
    if (apiGroups.length + resources.length + resourceNames.length > 0) {
      throw invalid(`${at}: a rule cannot apply to both resources and nonResourceURLs`);
    }
    return { verbs, nonResourceURLs };
  }
  if (apiGroups.length === 0) throw invalid(`${at}.apiGroups must contain at least one value ("" is the core group)`);
  if (resources.length === 0) throw invalid(`${at}.resources must contain at least one value`);
  return { apiGroups, resources, ...(resourceNames.length > 0 && { resourceNames }), verbs };
}

