/**
 * Policy path patterns: validation, `{{token.metadata.<key>}}` templates,
 * matching, and Vault's priority order between patterns that match the same
 * request path.
 */
const TEMPLATE_REF = /^token\.metadata\.([A-Za-z0-9_.-]+)$/;
/**
 * Splits `pattern` at its `{{...}}` references. Throws a message (a string,
 * for the caller to place) when a reference is malformed or not
 * `token.metadata.<key>` — the only template latchkey resolves.
 */
export function templateParts(pattern) {
    const parts = [];
    let rest = pattern;
    for (;;) {
        const open = rest.indexOf("{{");
        const strayClose = rest.indexOf("}}");
        if (strayClose !== -1 && (open === -1 || strayClose < open))
            throw new PatternError('"}}" without a matching "{{"');
        if (open === -1)
            break;
        const close = rest.indexOf("}}", open + 2);
        if (close === -1)
            throw new PatternError('"{{" without a matching "}}"');
        const ref = rest.slice(open + 2, close).trim();
        const m = TEMPLATE_REF.exec(ref);
        if (!m)
            throw new PatternError(`unknown template "{{${ref}}}"; only {{token.metadata.<key>}} is supported`);
        if (open > 0)
            parts.push(rest.slice(0, open));
        parts.push({ metadataKey: m[1] });
        rest = rest.slice(close + 2);
    }
    if (rest !== "")
        parts.push(rest);
    return parts;
}
export class PatternError extends Error {
}
export const isTemplated = (parts) => parts.some((p) => typeof p !== "string");
/**
 * Substitutes token metadata. A missing key, an empty value, or a value that
 * would change the pattern's shape (`/`, `*`, `+`) leaves the rule unresolved,
 * so it never matches: a token cannot widen its own grant through metadata.
 */
export function resolveTemplate(parts, metadata) {
    let out = "";
    for (const part of parts) {
        if (typeof part === "string") {
            out += part;
            continue;
        }
        const value = Object.hasOwn(metadata, part.metadataKey) ? metadata[part.metadataKey] : undefined;
        if (typeof value !== "string" || value === "" || /[/*+]/.test(value))
            return undefined;
        out += value;
    }
    return out;
}
/** Throws a PatternError when the wildcards of `pattern` are not where Vault allows them. */
export function checkPatternShape(pattern) {
    if (pattern === "")
        throw new PatternError("path is empty");
    const body = pattern.endsWith("*") ? pattern.slice(0, -1) : pattern;
    if (body.includes("*")) {
        throw new PatternError('"*" is only allowed as the last character; use "+" to match one segment');
    }
    if (pattern.endsWith("+*"))
        throw new PatternError('"+*" is not allowed; use "+/*" or "*"');
    for (const segment of body.split("/")) {
        if (segment.includes("+") && segment !== "+") {
            throw new PatternError('"+" must be a whole path segment, as in "secret/+/config"');
        }
    }
}
export function compilePattern(pattern) {
    const prefix = pattern.endsWith("*");
    const body = prefix ? pattern.slice(0, -1) : pattern;
    const segments = body.split("/");
    const plusCount = segments.filter((s) => s === "+").length;
    if (plusCount === 0) {
        return { pattern, prefix, plusCount, firstWildcard: prefix ? body.length : Infinity, literal: body };
    }
    const firstPlus = segments.indexOf("+");
    const literal = segments.slice(0, firstPlus).map((s) => s + "/").join("");
    return { pattern, prefix, plusCount, firstWildcard: literal.length, literal, segments };
}
/** Whether `path` is matched by `p`. `+` matches exactly one non-empty segment. */
export function matchesPath(p, path) {
    if (!p.segments)
        return p.prefix ? path.startsWith(p.literal) : path === p.literal;
    const parts = path.split("/");
    const segs = p.segments;
    if (p.prefix ? parts.length < segs.length : parts.length !== segs.length)
        return false;
    const last = segs.length - 1;
    for (let i = 0; i <= last; i++) {
        const seg = segs[i];
        if (seg === "+") {
            if (parts[i] === "")
                return false;
        }
        else if (p.prefix && i === last) {
            if (!parts[i].startsWith(seg))
                return false;
        }
        else if (parts[i] !== seg) {
            return false;
        }
    }
    return true;
}
/**
 * Vault's priority between two patterns that both match a path; true when `a`
 * wins. In order: the later first wildcard wins (an exact path has none, so it
 * beats every glob); not ending in `*` beats ending in `*`; fewer `+` segments
 * win; the longer pattern wins; the lexically greater pattern wins. Equal
 * only for the same pattern, whose rules are merged rather than ranked.
 */
export function outranks(a, b) {
    if (a.firstWildcard !== b.firstWildcard)
        return a.firstWildcard > b.firstWildcard;
    if (a.prefix !== b.prefix)
        return !a.prefix;
    if (a.plusCount !== b.plusCount)
        return a.plusCount < b.plusCount;
    if (a.pattern.length !== b.pattern.length)
        return a.pattern.length > b.pattern.length;
    return a.pattern > b.pattern;
}
