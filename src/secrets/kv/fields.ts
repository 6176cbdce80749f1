import { badRequest } from "../../core/errors.js";
import { boolValue } from "../../core/parse-bool.js";
import { parseDuration } from "../../core/tokens/duration.js";

/**
 * Typed readers for request data. The core coerces top-level fields to the
 * declared schema; these narrow `unknown` to a type, and coerce what the core
 * does not reach (`options.cas`, the `versions` list), accepting both query
 * strings and JSON (`"2"` and `2`). Absent or null → undefined.
 */
type Data = Record<string, unknown>;

export function intField(data: Data, name: string): number | undefined {
  const value = data[name];
  if (value === undefined || value === null) return undefined;
  const n = typeof value === "string" && value.trim() !== "" ? Number(value) : value;
  if (typeof n === "number" && Number.isSafeInteger(n)) return n;
  throw badRequest(`field "${name}" must be an integer`);
}

export function nonNegativeIntField(data: Data, name: string): number | undefined {
  const n = intField(data, name);
  if (n !== undefined && n < 0) throw badRequest(`field "${name}" must not be negative`);
  return n;
}

export function boolField(data: Data, name: string): boolean | undefined {
  const value = data[name];
  if (value === undefined || value === null) return undefined;
  return boolValue(value, name);
}

/** Whole seconds, never negative. */
export function durationField(data: Data, name: string): number | undefined {
  const value = data[name];
  if (value === undefined || value === null) return undefined;
  return parseDuration(value, name);
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function objectField(data: Data, name: string): Record<string, unknown> | undefined {
  const value = data[name];
  if (value === undefined || value === null) return undefined;
  if (isObject(value)) return value;
  throw badRequest(`field "${name}" must be an object`);
}

/** Vault's comma-int-slice: `[1, 2]`, `["1", "2"]` or `"1,2"`. */
export function intListField(data: Data, name: string): number[] | undefined {
  const value = data[name];
  if (value === undefined || value === null) return undefined;
  const items = typeof value === "string" ? (value.trim() === "" ? [] : value.split(",")) : value;
  if (!Array.isArray(items)) throw badRequest(`field "${name}" must be a list of integers`);
  return items.map((item: unknown) => {
    const n = typeof item === "string" && item.trim() !== "" ? Number(item) : item;
    if (typeof n === "number" && Number.isSafeInteger(n) && n >= 0) return n;
    throw badRequest(`field "${name}" must be a list of integers`);
  });
}
