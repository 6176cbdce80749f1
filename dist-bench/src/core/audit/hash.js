import { createHmac } from "node:crypto";
/** Vault's audit hash format, so that `sys/audit-hash` output can be grepped for in the log. */
export function hashValue(salt, value) {
    return "hmac-sha256:" + createHmac("sha256", salt).update(value).digest("hex");
}
/**
 * A copy of `value` with every string replaced by `hash(string)`, walking
 * objects and arrays; keys, numbers, booleans and null are kept. Anything else
 * (bytes, dates, bigints) is hashed as its string form so nothing escapes as
 * plaintext. The input is never modified: it is the live response.
 */
export function hashStrings(value, hash, ancestors = new Set()) {
    if (value === null || typeof value === "number" || typeof value === "boolean")
        return value;
    if (typeof value === "string")
        return hash(value);
    if (value === undefined || typeof value === "function" || typeof value === "symbol")
        return undefined;
    if (typeof value !== "object")
        return hash(String(value));
    if (ArrayBuffer.isView(value))
        return hash(Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("base64"));
    if (value instanceof Date)
        return hash(value.toISOString());
    if (ancestors.has(value))
        return "[circular]";
    ancestors.add(value);
    try {
        if (Array.isArray(value))
            return value.map((item) => hashStrings(item, hash, ancestors) ?? null);
        const out = {};
        for (const [key, item] of Object.entries(value))
            out[key] = hashStrings(item, hash, ancestors);
        return out;
    }
    finally {
        ancestors.delete(value);
    }
}
