import { describe, expect, it } from "vitest";
import { parseNamespaceSelector } from "./namespace-selector.js";

const TOO_DEEP = 'invalid "bound_service_account_namespace_selector": nesting exceeds the maximum depth of 300';

describe("namespace selector depth", () => {
  it.each([
    ["JSON arrays 20,000 deep", "[".repeat(20_000) + "]".repeat(20_000)],
    ["JSON objects 20,000 deep", `{"matchLabels":${'{"a":'.repeat(20_000)}"b"${"}".repeat(20_000)}}`],
    ["YAML flow sequences 20,000 deep", `matchExpressions: [{key: a, operator: In, values: ${"[".repeat(20_000)}${"]".repeat(20_000)}}]`],
    ["compact YAML block sequences 20,000 deep", `${"- ".repeat(20_000)}x`],
    ["indented YAML block maps 400 deep", Array.from({ length: 400 }, (_, i) => `${" ".repeat(i)}a:`).join("\n") + " b"],
  ])("refuses %s with 400, every time", (_what, text) => {
    // The YAML composer overflowed the stack on the first such selector and
    // took the process down on the second; three in a row must all be refused.
    for (let i = 0; i < 3; i++) {
      expect(() => parseNamespaceSelector(text)).toThrow(expect.objectContaining({ status: 400, message: TOO_DEEP }));
    }
  });

  it("still reads a selector at the depth limit, and says why a deep one is wrong", () => {
    const nested = (levels: number) => `{"matchLabels":${'{"a":'.repeat(levels - 1)}"b"${"}".repeat(levels - 1)}}`;
    expect(() => parseNamespaceSelector(nested(300))).toThrow('matchLabels "a" must be a string');
    expect(() => parseNamespaceSelector(nested(301))).toThrow(TOO_DEEP);
  });

  it("parses ordinary selectors as before", () => {
    expect(parseNamespaceSelector("matchExpressions:\n- key: team\n  operator: In\n  values: [a, b]\n")).toEqual({
      matchLabels: {},
      matchExpressions: [{ key: "team", operator: "In", values: ["a", "b"] }],
    });
  });
});
