import { CAPABILITIES } from "./parse.js";
export const capabilityBit = (c) => 1 << CAPABILITIES.indexOf(c);
export const DENY = capabilityBit("deny");
export const ALL_BUT_DENY = CAPABILITIES.reduce((bits, c) => (c === "deny" ? bits : bits | capabilityBit(c)), 0);
const BY_BITS = new Map();
/** The capabilities set in `bits`, in canonical order (memoized: checks ask on every request). */
export function capabilitiesOf(bits) {
    let caps = BY_BITS.get(bits);
    if (!caps) {
        caps = CAPABILITIES.filter((c) => (bits & capabilityBit(c)) !== 0);
        BY_BITS.set(bits, caps);
    }
    return [...caps];
}
export function grantOf(rule) {
    const bits = rule.capabilities.reduce((b, c) => b | capabilityBit(c), 0);
    if (bits & DENY)
        return { bits: DENY };
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
export function mergeGrants(a, b) {
    if ((a.bits | b.bits) & DENY)
        return { bits: DENY };
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
function mergeParameters(a, b) {
    if (!a || !b)
        return a ?? b;
    const out = new Map(a);
    for (const [key, values] of b) {
        const existing = out.get(key);
        out.set(key, existing === undefined ? values : existing.length === 0 || values.length === 0 ? [] : [...existing, ...values]);
    }
    return out;
}
function pick(a, b, choose) {
    if (!a)
        return b;
    if (!b)
        return a;
    return choose(a, b);
}
export function permissionsOf(pattern, grant) {
    const out = { pattern, capabilities: capabilitiesOf(grant.bits) };
    if (grant.allowed)
        out.allowedParameters = Object.fromEntries(grant.allowed);
    if (grant.denied)
        out.deniedParameters = Object.fromEntries(grant.denied);
    if (grant.required)
        out.requiredParameters = [...grant.required];
    if (grant.minWrappingTtl)
        out.minWrappingTtl = grant.minWrappingTtl;
    if (grant.maxWrappingTtl)
        out.maxWrappingTtl = grant.maxWrappingTtl;
    return out;
}
/**
 * Vault's parameter constraints, in Vault's order: every required parameter
 * must be present; a request without data passes; `denied_parameters` `"*"`
 * refuses any data, and a denied key refuses the listed values (any value for
 * an empty list); with `allowed_parameters`, every key must be listed (or
 * `"*"` be present) and its value be among the listed ones (any for `[]`).
 * Names compare case-insensitively; reasons never carry the value.
 */
export function checkGrantParameters(grant, data) {
    if (grant.bits & DENY)
        return { allowed: false, reason: "path is denied" };
    const given = new Map(Object.entries(data).map(([k, v]) => [k.toLowerCase(), v]));
    for (const name of grant.required ?? []) {
        if (!given.has(name))
            return { allowed: false, reason: `missing required parameter "${name}"` };
    }
    if (given.size === 0)
        return { allowed: true };
    if (grant.denied?.size) {
        if (grant.denied.has("*"))
            return { allowed: false, reason: "all parameters are denied" };
        for (const [name, value] of given) {
            const list = grant.denied.get(name);
            if (list && valueInList(value, list))
                return { allowed: false, reason: `parameter "${name}" is denied` };
        }
    }
    if (!grant.allowed?.size)
        return { allowed: true };
    const allowAny = grant.allowed.has("*");
    for (const [name, value] of given) {
        const list = grant.allowed.get(name);
        if (!list) {
            if (allowAny)
                continue;
            return { allowed: false, reason: `parameter "${name}" is not allowed` };
        }
        if (!valueInList(value, list))
            return { allowed: false, reason: `value of parameter "${name}" is not allowed` };
    }
    return { allowed: true };
}
/** An empty list holds every value; a list value must have every element listed. */
function valueInList(value, list) {
    if (list.length === 0)
        return true;
    if (Array.isArray(value))
        return value.every((v) => valueInList(v, list));
    return list.some((item) => valueMatches(value, item));
}
/** Strings listed in a policy may glob with `*` at the start, the end, or both (`*` alone matches anything). */
function valueMatches(value, item) {
    if (typeof item !== "string" || typeof value !== "string")
        return value === item;
    if (item === "*")
        return true;
    const starts = item.startsWith("*");
    const ends = item.length > 1 && item.endsWith("*");
    const core = item.slice(starts ? 1 : 0, ends ? -1 : undefined);
    if (starts && ends)
        return value.includes(core);
    if (starts)
        return value.endsWith(core);
    if (ends)
        return value.startsWith(core);
    return value === item;
}
