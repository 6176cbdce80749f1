import { badRequest } from "./errors.js";

/** Exactly the spellings Go's `strconv.ParseBool` takes, so Vault clients' flags mean the same here. */
const TRUE = new Set(["1", "t", "T", "TRUE", "true", "True"]);
const FALSE = new Set(["0", "f", "F", "FALSE", "false", "False"]);

/**
 * A boolean from a query string or form value, as Vault reads `?list=`,
 * `?standbyok=` and its bool fields. Anything else is the client's mistake:
 * 400 naming `what` (e.g. `query parameter "list"`).
 */
export function parseBool(value: string, what: string): boolean {
  if (TRUE.has(value)) return true;
  if (FALSE.has(value)) return false;
  throw badRequest(`${what} must be a boolean: 1, t, T, TRUE, true, True, 0, f, F, FALSE, false or False`);
}

/** A boolean field of a JSON body or query: a JSON boolean, 0 or 1, or a ParseBool spelling; 400 naming the field otherwise. */
export function boolValue(value: unknown, field: string): boolean {
  if (typeof value === "boolean") return value;
  if (value === 1 || value === 0) return value === 1;
  if (typeof value === "string" && (TRUE.has(value) || FALSE.has(value))) return TRUE.has(value);
  throw badRequest(`field "${field}" must be a boolean`);
}
