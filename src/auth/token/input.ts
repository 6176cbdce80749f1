import { badRequest, permissionDenied } from "../../core/errors.js";
import type { LogicalRequest, TokenEntry } from "../../core/types.js";

/** The token making the request; the core has authenticated it on every path of this mount. */
export function callerOf(req: LogicalRequest): TokenEntry {
  if (!req.auth) throw permissionDenied();
  return req.auth;
}

export function requiredString(value: unknown, field: string): string {
  if (typeof value !== "string" || value === "") throw badRequest(`missing required field "${field}"`);
  return value;
}

export function stringList(value: unknown, field: string): string[] {
  if (value === undefined || value === null || value === "") return [];
  if (typeof value === "string") return value.split(",").map((s) => s.trim());
  if (Array.isArray(value) && value.every((v): v is string => typeof v === "string")) return value;
  throw badRequest(`field "${field}" must be a list of strings`);
}

export function stringMap(value: unknown, field: string): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (typeof value !== "object" || Array.isArray(value)) throw badRequest(`field "${field}" must map strings to strings`);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== "string") throw badRequest(`field "${field}" must map strings to strings`);
    out[k] = v;
  }
  return out;
}
