/** Key-listing semantics shared by the physical stores (see PhysicalReader in types.ts). */

/** Immediate children of `prefix` among `sortedKeys`; deeper keys collapse to `child/`. */
export function listChildren(sortedKeys: Iterable<string>, prefix: string, after?: string, limit?: number): string[] {
  const out: string[] = [];
  let last: string | undefined;
  for (const key of sortedKeys) {
    if (!key.startsWith(prefix)) continue;
    const rest = key.slice(prefix.length);
    const slash = rest.indexOf("/");
    const child = slash === -1 ? rest : rest.slice(0, slash + 1);
    if (child === last) continue;
    last = child;
    if (after !== undefined && child <= after) continue;
    out.push(child);
    if (limit !== undefined && out.length >= limit) break;
  }
  return out;
}

/** Every key under `prefix`, relative, ascending, strictly after `after`, at most `limit`. */
export function scanKeys(sortedKeys: Iterable<string>, prefix: string, after?: string, limit?: number): string[] {
  const out: string[] = [];
  for (const key of sortedKeys) {
    if (!key.startsWith(prefix)) continue;
    const rest = key.slice(prefix.length);
    if (after !== undefined && rest <= after) continue;
    out.push(rest);
    if (limit !== undefined && out.length >= limit) break;
  }
  return out;
}

/** The smallest string greater than every string that starts with `prefix`, for range queries. */
export function prefixEnd(prefix: string): string {
  return prefix + "\u{10FFFF}";
}
