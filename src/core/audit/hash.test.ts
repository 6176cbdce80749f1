import { describe, expect, it } from "vitest";
import { hashQuoted, hashValue, hashValues } from "./hash.js";

const h = (s: string) => `H(${s})`;

describe("hashValues", () => {
  it("hashes every string and number, keeps keys, booleans and null", () => {
    const input = { a: "x", n: 1, f: -2.5, b: false, z: null, list: ["y", 2, { deep: "w" }], nested: { k: "v" } };
    expect(hashValues(input, h)).toEqual({
      a: "H(x)",
      n: "H(1)",
      f: "H(-2.5)",
      b: false,
      z: null,
      list: ["H(y)", "H(2)", { deep: "H(w)" }],
      nested: { k: "H(v)" },
    });
    expect(input.a).toBe("x");
    expect(input.n).toBe(1);
  });

  it("hashes a number as its JSON text, as Vault hashes a json.Number", () => {
    expect(hashValues(739182645, h)).toBe("H(739182645)");
    expect(hashValues(1e21, h)).toBe("H(1e+21)");
    expect(hashValues({ nan: Number.NaN, inf: Infinity }, h)).toEqual({ nan: null, inf: null });
  });

  it("hashes what is not JSON as its string form so nothing escapes in plaintext", () => {
    const circular: Record<string, unknown> = { name: "loop" };
    circular.self = circular;
    expect(hashValues({ bytes: new Uint8Array([1, 2, 3]), when: new Date(0), big: 10n, fn: () => 1, circular }, h)).toEqual({
      bytes: "H(AQID)",
      when: "H(1970-01-01T00:00:00.000Z)",
      big: "H(10)",
      fn: undefined,
      circular: { name: "H(loop)", self: "[circular]" },
    });
    expect(hashValues([() => 1, "a"], h)).toEqual([null, "H(a)"]);
  });

  it("copies a value shared by two keys twice, not as a cycle", () => {
    const shared = { pin: 1234 };
    expect(hashValues({ a: shared, b: [shared] }, h)).toEqual({ a: { pin: "H(1234)" }, b: [{ pin: "H(1234)" }] });
  });

  it("walks a deeply nested body without overflowing the call stack", () => {
    let deep: unknown = { pin: 739182645 };
    for (let i = 0; i < 50_000; i++) deep = i % 2 === 0 ? [deep] : { next: deep };
    const inner = (v: unknown): unknown =>
      Array.isArray(v) ? v[0] : typeof v === "object" && v !== null && "next" in v ? v.next : undefined;
    let out = hashValues(deep, h);
    for (let i = 0; i < 50_000; i++) out = inner(out);
    expect(out).toEqual({ pin: "H(739182645)" });
  });

  it("matches Vault's hmac-sha256 format", () => {
    expect(hashValue(new TextEncoder().encode("salt-of-sixteen-bytes"), "foo")).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
  });
});

describe("hashQuoted", () => {
  it("hashes each quoted value and keeps the rest of the message", () => {
    expect(hashQuoted('role "x" does not exist', h)).toBe('role "H(x)" does not exist');
    expect(hashQuoted('role "a" does not belong to access id "p-1"', h)).toBe('role "H(a)" does not belong to access id "H(p-1)"');
    expect(hashQuoted("permission denied", h)).toBe("permission denied");
    expect(hashQuoted('empty "" stays', h)).toBe('empty "" stays');
  });

  it("keeps the quoted parameter names it is told to keep", () => {
    expect(hashQuoted('field "token_policies" must not contain "root"', h, new Set(["token_policies"]))).toBe(
      'field "token_policies" must not contain "H(root)"',
    );
  });

  it("unescapes a JSON-quoted value before hashing it, and quotes the hash", () => {
    expect(hashQuoted('invalid role name "a\\"b"', h)).toBe('invalid role name "H(a\\"b)"');
    expect(hashQuoted('invalid role name "a\\u0041"', h)).toBe('invalid role name "H(aA)"');
  });
});
