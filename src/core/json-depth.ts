import { Parser, type CST } from "yaml";

/**
 * Vault 1.18's listener default for `max_json_depth`. Deeper documents are
 * refused before any recursive code (JSON.stringify in the storage view, KV
 * merge-patch, the YAML composer) sees them and overflows the call stack.
 */
export const DEFAULT_MAX_JSON_DEPTH = 300;

/**
 * The children of a container node, or undefined for a leaf. Containers are
 * what counts towards the depth: `1` is 0 deep, `{}` and `{"a":1}` are 1 deep,
 * `{"a":[]}` is 2 deep, as Vault counts `{` and `[`.
 */
export type ChildrenOf<T> = (node: T) => Iterable<T> | undefined;

/** Parsed JSON: objects and arrays are containers. */
export const jsonChildren: ChildrenOf<unknown> = (node) =>
  typeof node === "object" && node !== null ? Object.values(node) : undefined;

/**
 * Whether `root` nests containers more than `limit` deep. Iterative with an
 * explicit stack on purpose: the documents it must catch are the ones that
 * would overflow the call stack of a recursive walk.
 */
export function exceedsDepth<T>(root: T, limit: number, childrenOf: ChildrenOf<T>): boolean {
  const stack: Array<{ node: T; depth: number }> = [{ node: root, depth: 0 }];
  for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
    const children = childrenOf(top.node);
    if (children === undefined) continue;
    const depth = top.depth + 1;
    if (depth > limit) return true;
    for (const node of children) stack.push({ node, depth });
  }
  return false;
}

/**
 * yaml's options for a document a client sent: aliases bounded (a
 * billion-laughs document is refused, not expanded), and no warnings, which
 * yaml would print to the process's stderr with pieces of the document in them.
 */
export const CLIENT_YAML_OPTIONS = { maxAliasCount: 10, prettyErrors: false, logLevel: "error" } as const;

/** One wording for the HTTP edge and for fields that hold documents; callers say what nests. */
export const depthMessage = (limit: number) => `nesting exceeds the maximum depth of ${limit}`;

/**
 * Whether a JSON or HCL text nests `{`/`[` more than `limit` deep, counted on
 * the text before any parser sees it (brackets inside double-quoted strings do
 * not count), for documents that arrive as a string field such as a policy.
 */
export function textExceedsDepth(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === "{" || c === "[") {
      if (++depth > limit) return true;
    } else if (c === "}" || c === "]") depth = Math.max(0, depth - 1);
  }
  return false;
}

/**
 * Whether a YAML (or JSON) text nests collections more than `limit` deep.
 * yaml's composer recurses once per level: a document some thousands deep
 * overflows the stack, and a second one took the whole process down (V8 ran
 * out of memory compiling a regular expression). So depth is measured first,
 * on the syntax tree of yaml's CST parser, which builds it without recursion.
 */
export function yamlExceedsDepth(text: string, limit: number): boolean {
  for (const token of new Parser().parse(text)) {
    const root = token.type === "document" ? token.value : token;
    if (exceedsDepth(root, limit, cstChildren)) return true;
  }
  return false;
}

/** Block maps, block sequences and flow collections nest, as objects and arrays do in JSON. */
const cstChildren: ChildrenOf<CST.Token | null | undefined> = (token) => {
  if (token?.type !== "block-map" && token?.type !== "block-seq" && token?.type !== "flow-collection") return undefined;
  return token.items.flatMap((item) => [item.key, item.value]);
};
