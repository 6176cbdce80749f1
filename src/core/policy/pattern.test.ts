import { describe, expect, it } from "vitest";
import { compilePattern, matchesPath, outranks, resolveTemplate, templateParts } from "./pattern.js";

describe("outranks: Vault's priority order", () => {
  const pairs: Array<[winner: string, loser: string, rule: string]> = [
    ["secret/data/x", "secret/data/*", "an exact path has no wildcard at all"],
    ["secret/data/x", "secret/data/+", "an exact path has no wildcard at all"],
    ["foo/a*", "foo/+", "later first wildcard"],
    ["foo/bar/+/baz", "foo/+/bar/baz", "later first wildcard"],
    ["foo/bar*", "foo/*", "later first wildcard"],
    ["foo/+/bar", "foo/+/ba*", "not ending in *"],
    ["foo/+", "foo/*", "not ending in *"],
    ["a/+/c/d", "a/+/c/+", "fewer +"],
    ["foo/*", "foo/+/ba*", "fewer +"],
    ["a/+/cc", "a/+/c", "longer"],
    ["a/+/d", "a/+/c", "lexically greater"],
  ];
  it.each(pairs)("%s beats %s (%s)", (winner, loser) => {
    expect(outranks(compilePattern(winner), compilePattern(loser))).toBe(true);
    expect(outranks(compilePattern(loser), compilePattern(winner))).toBe(false);
  });

  it("does not rank a pattern above itself", () => {
    expect(outranks(compilePattern("a/+/b*"), compilePattern("a/+/b*"))).toBe(false);
  });
});

describe("matchesPath", () => {
  const rows: Array<[string, string, boolean]> = [
    ["a/b", "a/b", true],
    ["a/b", "a/b/", false],
    ["a/*", "a/", true],
    ["a/*", "a", false],
    ["a*", "a", true],
    ["a*", "abc/d", true],
    ["*", "", true],
    ["a/+/c", "a/b/c", true],
    ["a/+/c", "a//c", false],
    ["a/+/c", "a/b/c/d", false],
    ["a/+/c*", "a/b/cd/e", true],
    ["a/+/*", "a/b/", true],
    ["a/+/*", "a/b", false],
    ["+", "x", true],
    ["+", "x/y", false],
  ];
  it.each(rows)("%s ~ %j → %s", (pattern, path, expected) => {
    expect(matchesPath(compilePattern(pattern), path)).toBe(expected);
  });
});

describe("templates", () => {
  it("resolves token metadata and refuses values that change the shape", () => {
    const parts = templateParts("k/{{token.metadata.ns}}/{{ token.metadata.app }}*");
    expect(resolveTemplate(parts, { ns: "a", app: "b" })).toBe("k/a/b*");
    for (const bad of ["", "x/y", "x*", "+"]) expect(resolveTemplate(parts, { ns: bad, app: "b" })).toBeUndefined();
    expect(resolveTemplate(parts, { ns: "a" })).toBeUndefined();
    expect(resolveTemplate(parts, Object.create({ ns: "inherited", app: "b" }))).toBeUndefined();
  });

  it.each(["k/{{token.metadata}}", "k/{{token.meta.ns}}", "k/{{ns}}", "k/}}x", "k/{{token.metadata.ns"])(
    "refuses %s",
    (pattern) => {
      expect(() => templateParts(pattern)).toThrow();
    },
  );
});
