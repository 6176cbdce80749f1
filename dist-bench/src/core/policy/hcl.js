/**
 * A tokenizer and parser for the subset of HCL that Vault ACL policies use,
 * plus JSON (a document that opens with `{`), into one tree that remembers
 * line numbers, so that both forms are validated by the same code and errors
 * can name the line.
 *
 * Supported: `key = value`, `key "label" { ... }` blocks, strings with JSON
 * escapes, numbers, `true`/`false`, lists, objects, `#`, `//` and `/* *\/`
 * comments, optional commas between object entries and trailing commas in
 * lists. Not supported (never used by policies): heredocs, interpolation.
 */
export class HclSyntaxError extends Error {
    line;
    constructor(line, message) {
        super(message);
        this.line = line;
        this.name = "HclSyntaxError";
    }
}
const PUNCT = new Set(["{", "}", "[", "]", "=", ":", ","]);
const IDENT_START = /[A-Za-z_]/;
const IDENT_PART = /[A-Za-z0-9_.\-]/;
const NUMBER = /^-?\d+(\.\d+)?([eE][+-]?\d+)?/;
const ESCAPES = { '"': '"', "\\": "\\", "/": "/", n: "\n", t: "\t", r: "\r", b: "\b", f: "\f" };
export function tokenize(text) {
    const tokens = [];
    let line = 1;
    let i = 0;
    while (i < text.length) {
        const c = text[i];
        if (c === "\n") {
            line++;
            i++;
        }
        else if (c === " " || c === "\t" || c === "\r" || c === "\uFEFF") {
            i++;
        }
        else if (c === "#" || (c === "/" && text[i + 1] === "/")) {
            while (i < text.length && text[i] !== "\n")
                i++;
        }
        else if (c === "/" && text[i + 1] === "*") {
            const start = line;
            const end = text.indexOf("*/", i + 2);
            if (end === -1)
                throw new HclSyntaxError(start, "unterminated /* comment");
            for (let j = i; j < end; j++)
                if (text[j] === "\n")
                    line++;
            i = end + 2;
        }
        else if (PUNCT.has(c)) {
            tokens.push({ type: "punct", value: c, line });
            i++;
        }
        else if (c === '"') {
            const read = readString(text, i, line);
            tokens.push({ type: "string", value: read.value, line });
            i = read.end;
        }
        else if (c === "-" || (c >= "0" && c <= "9")) {
            const m = NUMBER.exec(text.slice(i, i + 64));
            if (!m)
                throw new HclSyntaxError(line, `unexpected character "${c}"`);
            tokens.push({ type: "number", value: Number(m[0]), line });
            i += m[0].length;
        }
        else if (IDENT_START.test(c)) {
            let j = i + 1;
            while (j < text.length && IDENT_PART.test(text[j]))
                j++;
            tokens.push({ type: "ident", value: text.slice(i, j), line });
            i = j;
        }
        else {
            throw new HclSyntaxError(line, `unexpected character "${c}"`);
        }
    }
    tokens.push({ type: "eof", line });
    return tokens;
}
function readString(text, start, line) {
    let out = "";
    let i = start + 1;
    while (i < text.length) {
        const c = text[i];
        if (c === '"')
            return { value: out, end: i + 1 };
        if (c === "\n")
            break;
        if (c !== "\\") {
            out += c;
            i++;
            continue;
        }
        const e = text[i + 1];
        if (e === "u") {
            const hex = text.slice(i + 2, i + 6);
            if (!/^[0-9A-Fa-f]{4}$/.test(hex))
                throw new HclSyntaxError(line, "invalid \\u escape in string");
            out += String.fromCharCode(parseInt(hex, 16));
            i += 6;
        }
        else if (e !== undefined && e in ESCAPES) {
            out += ESCAPES[e];
            i += 2;
        }
        else {
            throw new HclSyntaxError(line, `invalid escape "\\${e ?? ""}" in string`);
        }
    }
    throw new HclSyntaxError(line, "unterminated string");
}
/** Parses a policy document (HCL body, or a JSON object) into its top-level entries. */
export function parseDocument(text) {
    const p = new Parser(tokenize(text));
    if (p.peekPunct("{")) {
        const obj = p.object();
        p.expectEof();
        return obj.entries;
    }
    const entries = p.body();
    p.expectEof();
    return entries;
}
class Parser {
    tokens;
    pos = 0;
    constructor(tokens) {
        this.tokens = tokens;
    }
    peek() {
        return this.tokens[this.pos];
    }
    next() {
        const t = this.tokens[this.pos];
        if (t.type !== "eof")
            this.pos++;
        return t;
    }
    peekPunct(p) {
        const t = this.peek();
        return t.type === "punct" && t.value === p;
    }
    eatPunct(p) {
        if (!this.peekPunct(p))
            return false;
        this.pos++;
        return true;
    }
    expectEof() {
        const t = this.peek();
        if (t.type !== "eof")
            throw new HclSyntaxError(t.line, `unexpected ${describe(t)}`);
    }
    /** Entries up to (not including) a closing `}` or the end of input. */
    body() {
        const entries = [];
        for (;;) {
            const t = this.peek();
            if (t.type === "eof" || (t.type === "punct" && t.value === "}"))
                return entries;
            entries.push(this.entry());
            this.eatPunct(",");
        }
    }
    entry() {
        const keyToken = this.next();
        if (keyToken.type !== "ident" && keyToken.type !== "string") {
            throw new HclSyntaxError(keyToken.line, `expected a key, found ${describe(keyToken)}`);
        }
        const key = keyToken.value;
        const labels = [];
        for (;;) {
            const t = this.peek();
            if (t.type === "punct" && (t.value === "=" || t.value === ":")) {
                this.pos++;
                return { key, labels, value: this.value(), line: keyToken.line };
            }
            if (t.type === "punct" && t.value === "{") {
                return { key, labels, value: this.object(), line: keyToken.line };
            }
            if (t.type === "string" || t.type === "ident") {
                labels.push(t.value);
                this.pos++;
                continue;
            }
            throw new HclSyntaxError(t.line, `expected "=" or "{" after "${key}", found ${describe(t)}`);
        }
    }
    object() {
        const open = this.next();
        const entries = this.body();
        const close = this.next();
        if (close.type !== "punct" || close.value !== "}") {
            throw new HclSyntaxError(close.line, `expected "}" to close the block opened on line ${open.line}`);
        }
        return { kind: "object", entries, line: open.line };
    }
    list() {
        const open = this.next();
        const items = [];
        for (;;) {
            if (this.eatPunct("]"))
                return { kind: "list", items, line: open.line };
            if (this.peek().type === "eof") {
                throw new HclSyntaxError(this.peek().line, `expected "]" to close the list opened on line ${open.line}`);
            }
            items.push(this.value());
            if (!this.eatPunct(",") && !this.peekPunct("]")) {
                const t = this.peek();
                throw new HclSyntaxError(t.line, `expected "," or "]" in list, found ${describe(t)}`);
            }
        }
    }
    value() {
        const t = this.peek();
        switch (t.type) {
            case "string":
                this.pos++;
                return { kind: "string", value: t.value, line: t.line };
            case "number":
                this.pos++;
                return { kind: "number", value: t.value, line: t.line };
            case "ident":
                if (t.value === "true" || t.value === "false") {
                    this.pos++;
                    return { kind: "bool", value: t.value === "true", line: t.line };
                }
                throw new HclSyntaxError(t.line, `unexpected ${describe(t)}; strings must be quoted`);
            case "punct":
                if (t.value === "[")
                    return this.list();
                if (t.value === "{")
                    return this.object();
                throw new HclSyntaxError(t.line, `expected a value, found ${describe(t)}`);
            case "eof":
                throw new HclSyntaxError(t.line, "expected a value, found the end of the policy");
        }
    }
}
function describe(t) {
    switch (t.type) {
        case "eof":
            return "the end of the policy";
        case "punct":
            return `"${t.value}"`;
        case "string":
            return `string "${t.value}"`;
        case "number":
            return `number ${t.value}`;
        case "ident":
            return `"${t.value}"`;
    }
}
