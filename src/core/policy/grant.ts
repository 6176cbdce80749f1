import type { Capability } from "../types.js";
import { CAPABILITIES } from "./parse.js";
import type { AclPermissions, ParameterCheck, ParameterValue, PathRule } from "./types.js";

/** What one pattern grants, merged over every rule with that pattern in every policy of an ACL. */
export interface Grant {
  /** Bit i set ⇔ CAPABILITIES[i] granted; DENY alone when denied. */
  bits: number;
  allowed?: Map<string, ParameterValue[]>;
  denied?: Map<string, ParameterValue[]>;
  required?: string[];
  minWrappingTtl?: number;
  maxWrappingTtl?: number;
}

export const capabilityBit = (c: Capability) => 1 << CAPABILITIES.indexOf(c);
export const DENY = capabilityBit("deny");
export const ALL_BUT_DENY = CAPABILITIES.reduce((bits, c) => (c === "deny" ? bits : bits | capabilityBit(c)), 0);

const BY_BITS = new Map<number, readonly Capability[]>();

/** The capabilities set in `bits`, in canonical order (memoized: checks ask on every request). */
export function capabilitiesOf(bits: number): Capability[] {
  let caps = BY_BITS.get(bits);
  if (!caps) {
    caps = CAPABILITIES.filter((c) => (bits & capabilityBit(c)) !== 0);
    BY_BITS.set(bits, caps);
  }
  return [...caps];
}

export function grantOf(rule: PathRule): Grant {
  const bits = rule.capabilities.reduce((b, c) => b | capabilityBit(c), 0);
  if (bits & DENY) return { bits: DENY };
  return {
    bits,
    allowed: rule.allowedParameters && new Map(Object.entries(rule.allowedParameters)),
    denied: rule.deniedParameters && new Map(Object.entries(rule.deniedParameters)),
    required: rule.requiredParameters,
    minWrappingTtl: rule.minWrappingTtl,
    maxWrappingTtl: rule.maxWrappingTtl,
  };
}

/**
 * Merges two grants of the same pattern the way Vault merges policies:
 * capabilities are unioned and `deny` overrides all of them; parameter lists
 * are unioned per key, an empty list (any value) absorbing the others;
 * required parameters accumulate; the wrapping TTL bounds take the least
 * restrictive of the two (lower minimum, higher maximum).
 */
export function mergeGrants(a: Grant, b: Grant): Grant {
  if ((a.bits | b.bits) & DENY) return { bits: DENY };
  const required = a.required || b.required ? [...new Set([...(a.required ?? []), ...(b.required ?? [])])] : undefined;
  return {
    bits: a.bits | b.bits,
    allowed: mergeParameters(a.allowed, b.allowed),
    denied: mergeParameters(a.denied, b.denied),
    required,
    minWrappingTtl: pick(a.minWrappingTtl, b.minWrappingTtl, Math.min),
    maxWrappingTtl: pick(a.maxWrappingTtl, b.maxWrappingTtl, Math.max),
  };
}

function mergeParameters(
  a: Map<string, ParameterValue[]> | undefined,
  b: Map<string, ParameterValue[]> | undefined,
): Map<string, ParameterValue[]> | undefined {
  if (!a || !b) return a ?? b;
  const out = new Map(a);
  for (const [key, values] of b) {
    const existing = out.get(key);
    out.set(key, existing === undefined ? values : existing.length === 0 || values.length === 0 ? [] : [...existing, ...values]);
  }
  return out;
}

function pick(a: number | undefined, b: number | undefined, choose: (x: number, y: number) => number) {
  if (!a) return b;
  if (!b) return a;
  return choose(a, b);
}

export function permissionsOf(pattern: string, grant: Grant): AclPermissions {
  const out: AclPermissions = { pattern, capabilities: capabilitiesOf(grant.bits) };
  if (grant.allowed) out.allowedParameters = Object.fromEntries(grant.allowed);
  if (grant.denied) out.deniedParameters = Object.fromEntries(grant.denied);
  if (grant.required) out.requiredParameters = [...grant.required];
  if (grant.minWrappingTtl) out.minWrappingTtl = grant.minWrappingTtl;
  if (grant.maxWrappingTtl) out.maxWrappingTtl = grant.maxWrappingTtl;
  return out;
}

/**
 * Vault's parameter constraints, in Vault's order: every required parameter
 * must be present; a request without data passes; `denied_parameters` `"*"`
 * refuses any data, and a denied key refuses the listed values (any value for
 * an empty list); with `allowed_parameters`, every key must be listed (or
 * `"*"` be present) and its value be among the listed ones (any for `[]`).
 * Names compare case-insensitively; reasons never carry the value.
 *
 * Each key is judged as given, never folded into one entry per lower-cased
 * name: `{"mode": "unsafe", "MODE": "safe"}` must not pass as `"safe"` when
 * the backend reads `mode`.
 */
export function checkGrantParameters(grant: Grant, data: Record<string, unknown>): ParameterCheck {
  if (grant.bits & DENY) return { allowed: false, reason: "path is denied" };
  const given = Object.entries(data).map(([k, v]): [string, unknown] => [k.toLowerCase(), v]);
  const names = new Set(given.map(([name]) => name));
  for (const name of grant.required ?? []) {
    if (!names.has(name)) return { allowed: false, reason: `missing required parameter "${name}"` };
  }
  if (given.length === 0) return { allowed: true };
  if (grant.denied?.size) {
    if (grant.denied.has("*")) return { allowed: false, reason: "all parameters are denied" };
    for (const [name, value] of given) {
      const list = grant.denied.get(name);
      if (list && isDenied(value, list)) return { allowed: false, reason: `parameter "${name}" is denied` };
    }
  }
  if (!grant.allowed?.size) return { allowed: true };
  const allowAny = grant.allowed.has("*");
  for (const [name, value] of given) {
    const list = grant.allowed.get(name);
    if (!list) {
      if (allowAny) continue;
      return { allowed: false, reason: `parameter "${name}" is not allowed` };
    }
    if (!isAllowed(value, list)) return { allowed: false, reason: `value of parameter "${name}" is not allowed` };
  }
  return { allowed: true };
}

/**
 * A denied value is refused however a backend may read it: a list when any
 * element is denied (nested lists included), a string when it or any of its
 * comma-separated parts is (string-list fields read `"root,x"` as
 * `["root", "x"]`). Comparison ignores case and surrounding blanks, and a
 * number or boolean matches its string form, because backends normalise
 * (policy names are trimmed and lower-cased, `"0"` is coerced to 0).
 */
function isDenied(value: unknown, list: ParameterValue[]): boolean {
  if (list.length === 0) return true;
  const items = list.map(looseForm);
  return readingsOf(value).some((reading) => {
    const form = looseForm(reading);
    return form !== undefined && items.some((item) => item !== undefined && globMatches(form, item));
  });
}

/**
 * An allowed value must be allowed however a backend may read it: every
 * element of a list; a string with commas both as a whole and part by part
 * (so `"prod-*"` does not admit `"prod-a,root"`), unless it is exactly a
 * listed value. Comparison is exact: a stricter reading never widens access.
 */
function isAllowed(value: unknown, list: ParameterValue[]): boolean {
  if (list.length === 0) return true;
  if (Array.isArray(value)) return flatten(value).every((element) => isAllowed(element, list));
  if (typeof value !== "string" || !value.includes(",")) return list.some((item) => valueMatches(value, item));
  if (list.includes(value)) return true;
  return list.some((item) => valueMatches(value, item)) && commaParts(value).every((part) => isAllowed(part, list));
}

/** Every scalar a value may stand for: itself, a list's elements, a string's comma-separated parts. */
function readingsOf(value: unknown): unknown[] {
  const scalars = Array.isArray(value) ? flatten(value) : [value];
  return scalars.flatMap((s) => (typeof s === "string" && s.includes(",") ? [s, ...commaParts(s)] : [s]));
}

/** A list's scalars at any depth, without recursion (request bodies can nest deeply). */
function flatten(list: unknown[]): unknown[] {
  const out: unknown[] = [];
  const stack: unknown[] = [...list].reverse();
  while (stack.length > 0) {
    const item = stack.pop();
    if (Array.isArray(item)) for (let i = item.length - 1; i >= 0; i--) stack.push(item[i]);
    else out.push(item);
  }
  return out;
}

/** Vault's comma-separated string slices: parts trimmed, blanks dropped. */
const commaParts = (value: string) =>
  value
    .split(",")
    .map((part) => part.trim())
    .filter((part) => part !== "");

/** The normalised string form of a scalar for denied comparisons; undefined for anything else. */
function looseForm(value: unknown): string | undefined {
  if (typeof value === "string") return value.trim().toLowerCase();
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return undefined;
}

/** Strings listed in a policy may glob with `*` at the start, the end, or both (`*` alone matches anything). */
function valueMatches(value: unknown, item: ParameterValue): boolean {
  if (typeof item !== "string" || typeof value !== "string") return value === item;
  return globMatches(value, item);
}

function globMatches(value: string, item: string): boolean {
  if (item === "*") return true;
  const starts = item.startsWith("*");
  const ends = item.length > 1 && item.endsWith("*");
  const core = item.slice(starts ? 1 : 0, ends ? -1 : undefined);
  if (starts && ends) return value.includes(core);
  if (starts) return value.endsWith(core);
  if (ends) return value.startsWith(core);
  return value === item;
}
