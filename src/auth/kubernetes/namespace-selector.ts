import { parse as parseYaml } from "yaml";
import { badRequest } from "../../core/errors.js";
import { CLIENT_YAML_OPTIONS, DEFAULT_MAX_JSON_DEPTH, depthMessage, yamlExceedsDepth } from "../../core/json-depth.js";
import { isRecord, quoted } from "../../core/input.js";

const FIELD = "bound_service_account_namespace_selector";
const OPERATORS = ["In", "NotIn", "Exists", "DoesNotExist"] as const;
type Operator = (typeof OPERATORS)[number];

interface Requirement {
  key: string;
  operator: Operator;
  values: string[];
}

/** A metav1.LabelSelector: every `matchLabels` pair and every `matchExpressions` requirement must hold. */
export interface LabelSelector {
  matchLabels: Record<string, string>;
  matchExpressions: Requirement[];
}

const invalid = (why: string) => badRequest(`invalid "${FIELD}": ${why}`);

/**
 * Parses the selector as Vault accepts it, JSON or YAML. An empty selector
 * would select every namespace; latchkey refuses it, since `*` in
 * `bound_service_account_namespaces` says that explicitly.
 */
export function parseNamespaceSelector(text: string): LabelSelector {
  if (yamlExceedsDepth(text, DEFAULT_MAX_JSON_DEPTH)) throw invalid(depthMessage(DEFAULT_MAX_JSON_DEPTH));
  let doc: unknown;
  try {
    // YAML 1.2 is a superset of JSON, so one parser reads both.
    doc = parseYaml(text, CLIENT_YAML_OPTIONS);
  } catch {
    throw invalid("not valid JSON or YAML");
  }
  if (!isRecord(doc)) throw invalid("must be an object with matchLabels and/or matchExpressions");
  for (const key of Object.keys(doc)) {
    if (key !== "matchLabels" && key !== "matchExpressions") throw invalid(`unknown key ${quoted(key)}`);
  }
  const matchLabels = labelsOf(doc.matchLabels);
  const matchExpressions = requirementsOf(doc.matchExpressions);
  if (Object.keys(matchLabels).length === 0 && matchExpressions.length === 0) {
    throw invalid("must have matchLabels or matchExpressions");
  }
  return { matchLabels, matchExpressions };
}

function labelsOf(value: unknown): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (!isRecord(value)) throw invalid("matchLabels must be a map of strings");
  const labels: Record<string, string> = {};
  for (const [key, v] of Object.entries(value)) {
    if (typeof v !== "string") throw invalid(`matchLabels ${quoted(key)} must be a string`);
    labels[key] = v;
  }
  return labels;
}

function requirementsOf(value: unknown): Requirement[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw invalid("matchExpressions must be a list");
  return value.map((item, i) => {
    if (!isRecord(item)) throw invalid(`matchExpressions[${i}] must be an object`);
    const { key, operator, values } = item;
    if (typeof key !== "string" || key === "") throw invalid(`matchExpressions[${i}].key must be a non-empty string`);
    if (!isOperator(operator)) throw invalid(`matchExpressions[${i}].operator must be one of ${OPERATORS.join(", ")}`);
    const raw: unknown[] = values === undefined || values === null ? [] : Array.isArray(values) ? values : [values];
    const list = raw.filter((v): v is string => typeof v === "string");
    if (!Array.isArray(values ?? []) || list.length !== raw.length) {
      throw invalid(`matchExpressions[${i}].values must be a list of strings`);
    }
    // metav1.LabelSelectorAsSelector: In/NotIn need values, Exists/DoesNotExist take none.
    const needsValues = operator === "In" || operator === "NotIn";
    if (needsValues && list.length === 0) throw invalid(`matchExpressions[${i}]: ${operator} needs values`);
    if (!needsValues && list.length > 0) throw invalid(`matchExpressions[${i}]: ${operator} takes no values`);
    return { key, operator, values: list };
  });
}

const isOperator = (v: unknown): v is Operator => OPERATORS.some((op) => op === v);

export function selectorMatches(selector: LabelSelector, labels: Record<string, string>): boolean {
  for (const [key, value] of Object.entries(selector.matchLabels)) {
    if (labels[key] !== value) return false;
  }
  return selector.matchExpressions.every((req) => {
    const present = Object.hasOwn(labels, req.key);
    switch (req.operator) {
      case "In":
        return present && req.values.includes(labels[req.key]);
      case "NotIn":
        return !present || !req.values.includes(labels[req.key]);
      case "Exists":
        return present;
      case "DoesNotExist":
        return !present;
    }
  });
}
