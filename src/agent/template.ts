/**
 * Go-template-like rendering over `{ data: <secret data> }`, as Vault Agent
 * users write them: `{{ .data.password }}`, nested fields, `{{-`/`-}}` trim.
 * An unknown field or a malformed action is an error, never empty output.
 */
export class TemplateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TemplateError";
  }
}

type Part = { text: string } | { field: readonly string[]; source: string };

const STRING = /^"(?:[^"\\]|\\.)*"$/;

const ACTION = /\{\{(-\s)?\s*(.*?)\s*(\s-)?\}\}/gs;
const FIELD = /^\.(?:[A-Za-z_][A-Za-z0-9_-]*)(?:\.[A-Za-z_][A-Za-z0-9_-]*)*$/;

/** Splits `text` into literal parts and field references; throws on a parse error. */
export function parseTemplate(text: string): Part[] {
  const parts: Part[] = [];
  let last = 0;
  let trimNext = false;
  for (const match of text.matchAll(ACTION)) {
    let literal = text.slice(last, match.index);
    if (trimNext) literal = literal.trimStart();
    if (match[1] !== undefined) literal = literal.trimEnd();
    if (literal.includes("{{") || literal.includes("}}")) throw new TemplateError(`unbalanced braces in template near "${literal.trim().slice(0, 40)}"`);
    parts.push({ text: literal });
    const expr = match[2] ?? "";
    if (STRING.test(expr)) {
      // A quoted string, as Go templates print it: `{{ "\n" }}`.
      parts.push({ text: JSON.parse(expr) as string });
    } else {
      if (!FIELD.test(expr)) throw new TemplateError(`unsupported template action "{{ ${expr} }}": only field references such as {{ .data.KEY }} and quoted strings are understood`);
      parts.push({ field: expr.slice(1).split("."), source: expr });
    }
    trimNext = match[3] !== undefined;
    last = (match.index ?? 0) + match[0].length;
  }
  let rest = text.slice(last);
  if (trimNext) rest = rest.trimStart();
  if (rest.includes("{{") || rest.includes("}}")) throw new TemplateError(`unbalanced braces in template near "${rest.trim().slice(0, 40)}"`);
  parts.push({ text: rest });
  return parts;
}

function lookup(root: unknown, field: readonly string[], source: string): string {
  let value: unknown = root;
  for (const name of field) {
    if (typeof value !== "object" || value === null || Array.isArray(value) || !Object.hasOwn(value, name)) {
      throw new TemplateError(`template field ${source} does not exist in the secret's data`);
    }
    value = (value as Record<string, unknown>)[name];
  }
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return JSON.stringify(value);
}

/** Renders `text` over `{ data }`. */
export function renderTemplate(text: string, data: Record<string, unknown>): string {
  const root = { data };
  return parseTemplate(text)
    .map((part) => ("text" in part ? part.text : lookup(root, part.field, part.source)))
    .join("");
}
