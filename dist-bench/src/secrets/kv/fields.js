import { badRequest } from "../../core/errors.js";
import { parseDuration } from "../../core/tokens/duration.js";
export function intField(data, name) {
    const value = data[name];
    if (value === undefined || value === null)
        return undefined;
    const n = typeof value === "string" && value.trim() !== "" ? Number(value) : value;
    if (typeof n === "number" && Number.isSafeInteger(n))
        return n;
    throw badRequest(`field "${name}" must be an integer`);
}
export function nonNegativeIntField(data, name) {
    const n = intField(data, name);
    if (n !== undefined && n < 0)
        throw badRequest(`field "${name}" must not be negative`);
    return n;
}
export function boolField(data, name) {
    const value = data[name];
    if (value === undefined || value === null)
        return undefined;
    if (typeof value === "boolean")
        return value;
    if (value === "true" || value === "1" || value === 1)
        return true;
    if (value === "false" || value === "0" || value === 0)
        return false;
    throw badRequest(`field "${name}" must be a boolean`);
}
/** Whole seconds, never negative. */
export function durationField(data, name) {
    const value = data[name];
    if (value === undefined || value === null)
        return undefined;
    return parseDuration(value, name);
}
export function isObject(value) {
    return typeof value === "object" && value !== null && !Array.isArray(value);
}
export function objectField(data, name) {
    const value = data[name];
    if (value === undefined || value === null)
        return undefined;
    if (isObject(value))
        return value;
    throw badRequest(`field "${name}" must be an object`);
}
/** Vault's comma-int-slice: `[1, 2]`, `["1", "2"]` or `"1,2"`. */
export function intListField(data, name) {
    const value = data[name];
    if (value === undefined || value === null)
        return undefined;
    const items = typeof value === "string" ? (value.trim() === "" ? [] : value.split(",")) : value;
    if (!Array.isArray(items))
        throw badRequest(`field "${name}" must be a list of integers`);
    return items.map((item) => {
        const n = typeof item === "string" && item.trim() !== "" ? Number(item) : item;
        if (typeof n === "number" && Number.isSafeInteger(n) && n >= 0)
            return n;
        throw badRequest(`field "${name}" must be a list of integers`);
    });
}
