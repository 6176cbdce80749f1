import { badRequest } from "./errors.js";

/**
 * Vault's `strutil.GlobbedStringsMatch`-style glob: `*` matches any run of
 * characters (also none); nothing else is special.
 */
export function globMatch(pattern: string, value: string): boolean {
  if (!pattern.includes("*")) return pattern === value;
  const parts = pattern.split("*");
  const first = parts[0];
  const last = parts[parts.length - 1];
  if (value.length < first.length + last.length) return false;
  if (!value.startsWith(first) || !value.endsWith(last)) return false;
  let pos = first.length;
  const end = value.length - last.length;
  for (const part of parts.slice(1, -1)) {
    const found = value.indexOf(part, pos);
    if (found < 0 || found + part.length > end) return false;
    pos = found + part.length;
  }
  return true;
}

export const matchesAny = (patterns: string[], value: string) => patterns.some((p) => globMatch(p, value));

/** Vault refuses `*` next to other entries: a list is either `["*"]` or a list of names and globs. */
export function checkStarAlone(list: string[], field: string): void {
  if (list.length > 1 && list.includes("*")) throw badRequest(`can not mix "*" with values in "${field}"`);
  if (list.some((entry) => entry.trim() === "")) throw badRequest(`"${field}" must not contain empty entries`);
}
