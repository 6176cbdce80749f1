/** Policy names as Vault keeps them: trimmed, lower-cased, without empty names or duplicates, sorted. */
export function policyNames(names: string[]): string[] {
  return [...new Set(names.map((n) => n.trim().toLowerCase()).filter((n) => n !== ""))].sort();
}
