import { badRequest } from "./errors.js";
import { boolValue } from "./parse-bool.js";
import { parseDuration } from "./tokens/duration.js";
import type { FieldSchema } from "./types.js";

/**
 * Coerces request data to the declared field schema, as Vault's framework does:
 * query strings arrive as strings, so `"true"` → true and `"42"` → 42; durations
 * accept `"1h"` or seconds; string lists accept a comma-separated string. Fields
 * not in the schema pass through untouched. The message names the bad field.
 */
export function coerceFields(
  fields: Record<string, FieldSchema> | undefined,
  data: Record<string, unknown>,
): Record<string, unknown> {
  if (!fields) return data;
  const out: Record<string, unknown> = { ...data };
  for (const [name, schema] of Object.entries(fields)) {
    const value = out[name];
    if (value === undefined || value === null) {
      if (schema.required) throw badRequest(`missing required field "${name}"`);
      if (schema.default !== undefined) out[name] = schema.default;
      continue;
    }
    out[name] = coerceField(name, schema, value);
  }
  return out;
}

function coerceField(name: string, schema: FieldSchema, value: unknown): unknown {
  switch (schema.type) {
    case "string":
      if (typeof value === "string") return value;
      if (typeof value === "number" || typeof value === "boolean") return String(value);
      throw badRequest(`field "${name}" must be a string`);
    case "int": {
      const n = typeof value === "string" && value.trim() !== "" ? Number(value) : value;
      if (typeof n === "number" && Number.isInteger(n)) return n;
      throw badRequest(`field "${name}" must be an integer`);
    }
    case "bool":
      return boolValue(value, name);
    case "duration":
      return parseDuration(value, name);
    case "string_list":
      if (typeof value === "string") return value === "" ? [] : value.split(",").map((s) => s.trim());
      if (Array.isArray(value) && value.every((v) => typeof v === "string")) return value;
      throw badRequest(`field "${name}" must be a list of strings`);
    case "map":
    case "object":
      if (typeof value === "object" && !Array.isArray(value)) return value;
      throw badRequest(`field "${name}" must be an object`);
    case "any":
      return value;
  }
}
