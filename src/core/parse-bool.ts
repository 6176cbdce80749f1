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
