const node = () => ({ literal: new Map(), globs: [] });
/**
 * Patterns with `+` segments, as a trie over path segments: a lookup follows
 * the literal child and the `+` child of each node, so its cost depends on
 * the path's depth and the branching the patterns create, not on how many
 * patterns share a prefix (`kubernetes/creds/+/role-1` ... `role-1000`).
 */
export function createSegmentTrie() {
    const root = node();
    return {
        insert(value) {
            const { pattern, prefix } = value.compiled;
            const segments = value.compiled.segments ?? (prefix ? pattern.slice(0, -1) : pattern).split("/");
            const last = prefix ? segments.length - 1 : segments.length;
            let at = root;
            for (let i = 0; i < last; i++) {
                const s = segments[i];
                if (s === "+") {
                    at = at.plus ??= node();
                }
                else {
                    let next = at.literal.get(s);
                    if (!next)
                        at.literal.set(s, (next = node()));
                    at = next;
                }
            }
            if (prefix)
                at.globs.push({ partial: segments[last], value });
            else
                at.exact = value;
        },
        /** Every pattern that matches `path`; `+` matches one non-empty segment. */
        matches(path) {
            const found = [];
            // Walks segment by segment without splitting the whole path: most paths leave the trie at once.
            const walk = (at, start) => {
                if (start > path.length) {
                    if (at.exact)
                        found.push(at.exact);
                    return;
                }
                const slash = path.indexOf("/", start);
                const end = slash === -1 ? path.length : slash;
                const part = path.slice(start, end);
                for (const g of at.globs)
                    if (part.startsWith(g.partial))
                        found.push(g.value);
                const next = at.literal.get(part);
                if (next)
                    walk(next, end + 1);
                if (at.plus && part !== "")
                    walk(at.plus, end + 1);
            };
            walk(root, 0);
            return found;
        },
    };
}
