import { createHmac } from "node:crypto";

/** Vault's audit hash format, so that `sys/audit-hash` output can be grepped for in the log. */
export function hashValue(salt: Uint8Array, value: string): string {
  return "hmac-sha256:" + createHmac("sha256", salt).update(value).digest("hex");
}

type Hash = (s: string) => string;
type Container = unknown[] | Record<string, unknown>;

/** One object or array still being copied: where its copy goes and which of its entries come next. */
interface Frame {
  source: object;
  entries: Array<[string | number, unknown]>;
  next: number;
  copy: Container;
}

const CIRCULAR = "[circular]";

/**
 * A copy of `value` with every scalar that can carry a secret replaced by
 * `hash(text)`: strings, and numbers as their JSON text (Vault decodes request
 * bodies with json.Number, so `739182645` is hashed as the string
 * "739182645"; a `sys/audit-hash` of that string finds it). Keys, booleans
 * and null are kept. Anything else (bytes, dates, bigints) is hashed as its
 * string form so nothing escapes as plaintext. The walk uses its own stack, so
 * a deeply nested body cannot overflow the call stack. The input is never
 * modified: it is the live request or response.
 */
export function hashValues(value: unknown, hash: Hash): unknown {
  if (!isContainer(value)) return leaf(value, hash);
  const start = frameOf(value);
  const stack: Frame[] = [start];
  const ancestors = new Set<object>([value]);
  while (stack.length > 0) {
    const frame = stack[stack.length - 1];
    if (frame.next === frame.entries.length) {
      stack.pop();
      ancestors.delete(frame.source);
      continue;
    }
    const [key, item] = frame.entries[frame.next++];
    if (!isContainer(item)) {
      assign(frame.copy, key, leaf(item, hash));
    } else if (ancestors.has(item)) {
      assign(frame.copy, key, CIRCULAR);
    } else {
      const child = frameOf(item);
      assign(frame.copy, key, child.copy);
      ancestors.add(item);
      stack.push(child);
    }
  }
  return start.copy;
}

/** Objects and arrays are walked into; bytes and dates are leaves hashed whole. */
const isContainer = (value: unknown): value is object =>
  typeof value === "object" && value !== null && !ArrayBuffer.isView(value) && !(value instanceof Date);

/** The hashed form of anything that is not a container. */
function leaf(value: unknown, hash: Hash): unknown {
  if (value === null || typeof value === "boolean") return value;
  if (typeof value === "string") return hash(value);
  // JSON.stringify gives a number's JSON text; NaN and ±Infinity, which JSON cannot carry, are written as null anyway.
  if (typeof value === "number") return Number.isFinite(value) ? hash(JSON.stringify(value)) : null;
  if (value === undefined || typeof value === "function" || typeof value === "symbol") return undefined;
  if (ArrayBuffer.isView(value)) return hash(Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("base64"));
  if (value instanceof Date) return hash(value.toISOString());
  return hash(String(value));
}

function frameOf(source: object): Frame {
  if (Array.isArray(source)) return { source, entries: source.map((item: unknown, i) => [i, item]), next: 0, copy: [] };
  return { source, entries: Object.entries(source), next: 0, copy: {} };
}

/** Arrays keep their length: an element that vanishes (a function) becomes null, as JSON.stringify writes it. */
function assign(copy: Container, key: string | number, value: unknown): void {
  if (Array.isArray(copy)) copy[Number(key)] = value ?? null;
  else copy[String(key)] = value;
}

const QUOTED = /"((?:[^"\\]|\\.)*)"/g;

/**
 * An error message with each double-quoted value replaced by its hash
 * (`role "hmac-sha256:…" does not exist`): messages quote what the client
 * sent, and the audit log must not hold request values in plaintext. Quoted
 * text in `keep` (the request's parameter names, written unhashed in the same
 * entry anyway) stays readable. A value quoted as JSON is unescaped first, so
 * `sys/audit-hash` of the value as sent finds it.
 */
export function hashQuoted(message: string, hash: Hash, keep: ReadonlySet<string> = new Set()): string {
  return message.replace(QUOTED, (whole, inner: string) => {
    if (inner === "" || keep.has(inner)) return whole;
    return JSON.stringify(hash(unescaped(inner)));
  });
}

function unescaped(inner: string): string {
  try {
    const value: unknown = JSON.parse(`"${inner}"`);
    return typeof value === "string" ? value : inner;
  } catch {
    return inner;
  }
}
