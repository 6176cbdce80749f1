/** Key-listing semantics shared by the physical stores (see PhysicalReader in types.ts). */
/**
 * Orders keys by their UTF-8 bytes (= code points), the order SQLite's BINARY
 * collation and PostgreSQL's "C" collation use. JavaScript's `<` compares
 * UTF-16 code units, which puts U+10000.. before U+E000..U+FFFF.
 */
export function compareKeys(a, b) {
    const n = Math.min(a.length, b.length);
    for (let i = 0; i < n; i++) {
        const x = a.charCodeAt(i);
        const y = b.charCodeAt(i);
        if (x !== y)
            return codePointRank(x) - codePointRank(y);
    }
    return a.length - b.length;
}
/** Surrogates (D800–DFFF) start code points above FFFF, so they rank after E000–FFFF. */
function codePointRank(unit) {
    if (unit < 0xd800)
        return unit;
    return unit >= 0xe000 ? unit - 0x800 : unit + 0x2000;
}
/** Vault's ListPage: a limit of zero or less means no limit. */
const reached = (count, limit) => limit !== undefined && limit > 0 && count >= limit;
/** Immediate children of `prefix` among `sortedKeys`; deeper keys collapse to `child/`. */
export function listChildren(sortedKeys, prefix, after, limit) {
    const out = [];
    let last;
    for (const key of sortedKeys) {
        if (!key.startsWith(prefix))
            continue;
        const rest = key.slice(prefix.length);
        const slash = rest.indexOf("/");
        const child = slash === -1 ? rest : rest.slice(0, slash + 1);
        if (child === last)
            continue;
        last = child;
        if (after !== undefined && compareKeys(child, after) <= 0)
            continue;
        out.push(child);
        if (reached(out.length, limit))
            break;
    }
    return out;
}
/** Every key under `prefix`, relative, ascending, strictly after `after`, at most `limit`. */
export function scanKeys(sortedKeys, prefix, after, limit) {
    const out = [];
    for (const key of sortedKeys) {
        if (!key.startsWith(prefix))
            continue;
        const rest = key.slice(prefix.length);
        if (after !== undefined && compareKeys(rest, after) <= 0)
            continue;
        out.push(rest);
        if (reached(out.length, limit))
            break;
    }
    return out;
}
/** The smallest string greater than every string that starts with `prefix`, for range queries. */
export function prefixEnd(prefix) {
    return prefix + "\u{10FFFF}";
}
/**
 * The exact upper bound of the keys that start with `prefix` in byte order:
 * `prefix` with its last code point incremented, so that
 * `prefix <= key < prefixSuccessor(prefix)` holds exactly for the keys under it.
 * Undefined when no bound exists (empty prefix, or only U+10FFFF).
 */
export function prefixSuccessor(prefix) {
    const points = Array.from(prefix);
    while (points.length > 0) {
        const last = points.pop().codePointAt(0);
        if (last === 0x10ffff)
            continue;
        const next = last + 1 === 0xd800 ? 0xe000 : last + 1;
        return points.join("") + String.fromCodePoint(next);
    }
    return undefined;
}
