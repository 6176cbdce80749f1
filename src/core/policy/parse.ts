import { badRequest, LatchkeyError } from "../errors.js";
import { DEFAULT_MAX_JSON_DEPTH, depthMessage, textExceedsDepth } from "../json-depth.js";
import { parseDuration } from "../tokens/duration.js";
import type { Capability } from "../types.js";
import { HclSyntaxError, parseDocument, type HclEntry, type HclValue } from "./hcl.js";
import { checkPatternShape, isTemplated, PatternError, templateParts } from "./pattern.js";
import type { ParameterValue, PathRule, Policy } from "./types.js";

/** Canonical order, as Vault lists capabilities. */
export const CAPABILITIES: readonly Capability[] = ["create", "read", "update", "patch", "delete", "list", "sudo", "deny"];

/** Vault's pre-0.5 `policy = "..."` shorthand. */
const LEGACY_POLICIES: Record<string, Capability[]> = {
  deny: ["deny"],
  read: ["read", "list"],
  write: ["create", "read", "update", "delete", "list"],
  sudo: ["create", "read", "update", "delete", "list", "sudo"],
};

const PATH_KEYS = new Set([
  "capabilities",
  "policy",
  "allowed_parameters",
  "denied_parameters",
  "required_parameters",
  "min_wrapping_ttl",
  "max_wrapping_ttl",
  "comment",
]);

/** Thrown inside this module with the line it concerns; parsePolicy turns it into a 400 naming policy and line. */
class PolicyError extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Parses a Vault ACL policy, in HCL as Vault's documentation writes it or in
 * its JSON form, into rules. Every mistake is a 400 that names the policy, the
 * line and the key, because an operator fixing a policy needs exactly that.
 */
export function parsePolicy(name: string, text: string): Policy {
  const fail = (line: number, message: string) => badRequest(`policy "${name}" line ${line}: ${message}`);
  if (text.trim() === "") throw badRequest(`policy "${name}": policy text is empty`);
  // The HCL and JSON readers recurse; refuse what would overflow them.
  if (textExceedsDepth(text, DEFAULT_MAX_JSON_DEPTH)) throw badRequest(`policy "${name}": ${depthMessage(DEFAULT_MAX_JSON_DEPTH)}`);
  try {
    const rules = parseEntries(parseDocument(text));
    if (rules.length === 0) throw badRequest(`policy "${name}": policy has no path blocks`);
    return { name, text, rules, templated: rules.some((r) => isTemplated(templateParts(r.path))) };
  } catch (err) {
    if (err instanceof PolicyError || err instanceof HclSyntaxError) throw fail(err.line, err.message);
    if (err instanceof LatchkeyError) throw err;
    throw badRequest(`policy "${name}": ${err instanceof Error ? err.message : String(err)}`);
  }
}

function parseEntries(entries: HclEntry[]): PathRule[] {
  const rules: PathRule[] = [];
  for (const entry of entries) {
    if (entry.key === "name") {
      // Vault accepts (and ignores) a top-level name; the name comes from the API path.
      if (entry.labels.length > 0 || entry.value.kind !== "string") {
        throw new PolicyError(entry.line, '"name" must be a string');
      }
      continue;
    }
    if (entry.key !== "path") throw new PolicyError(entry.line, `unknown key "${entry.key}"; expected "path"`);
    if (entry.labels.length > 1) throw new PolicyError(entry.line, "a path block takes exactly one path");
    if (entry.labels.length === 1) {
      rules.push(parseRule(entry.labels[0], entry.value, entry.line));
      continue;
    }
    // JSON form: "path": {"<pattern>": {...}, ...} or "path": [{"<pattern>": {...}}, ...]
    const maps = entry.value.kind === "list" ? entry.value.items : [entry.value];
    for (const map of maps) {
      if (map.kind !== "object") throw new PolicyError(map.line, '"path" must map path patterns to blocks');
      for (const inner of map.entries) {
        if (inner.labels.length > 0) throw new PolicyError(inner.line, "a path block takes exactly one path");
        rules.push(parseRule(inner.key, inner.value, inner.line));
      }
    }
  }
  return rules;
}

function parseRule(rawPath: string, block: HclValue, line: number): PathRule {
  const path = rawPath.startsWith("/") ? rawPath.slice(1) : rawPath;
  const at = (l: number, message: string) => new PolicyError(l, `path "${rawPath}": ${message}`);
  checkPath(path, (message) => at(line, message));
  if (block.kind !== "object") throw at(block.line, "expected a { ... } block");

  const rule: PathRule = { path, capabilities: [], line };
  const seen = new Set<string>();
  const caps = new Set<Capability>();
  for (const { key, labels, value, line: l } of block.entries) {
    if (!PATH_KEYS.has(key)) throw at(l, `unknown key "${key}"`);
    if (seen.has(key)) throw at(l, `"${key}" is set twice`);
    if (labels.length > 0) throw at(l, `"${key}" takes no label`);
    seen.add(key);
    switch (key) {
      case "capabilities":
        for (const item of stringList(value, key, at)) {
          if (!(CAPABILITIES as readonly string[]).includes(item.value)) {
            throw at(item.line, `unknown capability "${item.value}"; expected one of ${CAPABILITIES.join(", ")}`);
          }
          caps.add(item.value as Capability);
        }
        break;
      case "policy": {
        if (value.kind !== "string" || !(value.value in LEGACY_POLICIES)) {
          throw at(l, '"policy" must be one of "deny", "read", "write", "sudo"');
        }
        for (const c of LEGACY_POLICIES[value.value]) caps.add(c);
        break;
      }
      case "allowed_parameters":
        rule.allowedParameters = parameterMap(value, key, at);
        break;
      case "denied_parameters":
        rule.deniedParameters = parameterMap(value, key, at);
        break;
      case "required_parameters":
        rule.requiredParameters = stringList(value, key, at).map((s) => s.value.toLowerCase());
        break;
      case "min_wrapping_ttl":
        rule.minWrappingTtl = duration(value, key, at);
        break;
      case "max_wrapping_ttl":
        rule.maxWrappingTtl = duration(value, key, at);
        break;
      case "comment":
        if (value.kind !== "string") throw at(l, '"comment" must be a string');
        break;
    }
  }
  if (rule.minWrappingTtl && rule.maxWrappingTtl && rule.maxWrappingTtl < rule.minWrappingTtl) {
    throw at(line, "max_wrapping_ttl is less than min_wrapping_ttl");
  }
  rule.capabilities = caps.has("deny") ? ["deny"] : CAPABILITIES.filter((c) => caps.has(c));
  return rule;
}

function checkPath(path: string, error: (message: string) => PolicyError): void {
  try {
    // Metadata values can never contain "/", "*" or "+", so a placeholder shows the shape every resolution has.
    const parts = templateParts(path);
    checkPatternShape(parts.map((p) => (typeof p === "string" ? p : "x")).join(""));
  } catch (err) {
    if (err instanceof PatternError) throw error(err.message);
    throw err;
  }
}

type At = (line: number, message: string) => PolicyError;

function stringList(value: HclValue, key: string, at: At): Array<{ value: string; line: number }> {
  if (value.kind !== "list") throw at(value.line, `"${key}" must be a list of strings`);
  return value.items.map((item) => {
    if (item.kind !== "string") throw at(item.line, `"${key}" must be a list of strings`);
    return { value: item.value, line: item.line };
  });
}

function parameterMap(value: HclValue, key: string, at: At): Record<string, ParameterValue[]> {
  if (value.kind !== "object") throw at(value.line, `"${key}" must map parameter names to lists of values`);
  const out = new Map<string, ParameterValue[]>();
  for (const entry of value.entries) {
    const name = entry.key.toLowerCase();
    if (entry.labels.length > 0 || entry.value.kind !== "list") {
      throw at(entry.line, `${key} "${entry.key}" must be a list of values`);
    }
    const values = entry.value.items.map((item) => {
      if (item.kind === "list" || item.kind === "object") {
        throw at(item.line, `${key} "${entry.key}" values must be strings, numbers or booleans`);
      }
      return item.value;
    });
    out.set(name, [...(out.get(name) ?? []), ...values]);
  }
  // fromEntries defines own properties, so a parameter named "__proto__" stays a plain key.
  return Object.fromEntries(out);
}

function duration(value: HclValue, key: string, at: At): number {
  if (value.kind !== "string" && value.kind !== "number") throw at(value.line, `"${key}" must be a duration`);
  try {
    return parseDuration(value.value, key);
  } catch (err) {
    if (err instanceof LatchkeyError) throw at(value.line, err.message);
    throw err;
  }
}
