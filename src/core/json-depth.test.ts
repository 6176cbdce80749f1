import { describe, expect, it } from "vitest";
import { DEFAULT_MAX_JSON_DEPTH, depthMessage, exceedsDepth, jsonChildren } from "./json-depth.js";

/** `{"a":{"a":...1}}` with `levels` objects, built without recursion. */
const nested = (levels: number): unknown => JSON.parse('{"a":'.repeat(levels) + "1" + "}".repeat(levels));

describe("exceedsDepth", () => {
  it("counts objects and arrays, as Vault counts { and [", () => {
    expect(exceedsDepth(1, 0, jsonChildren)).toBe(false);
    expect(exceedsDepth({}, 0, jsonChildren)).toBe(true);
    expect(exceedsDepth({ a: 1 }, 1, jsonChildren)).toBe(false);
    expect(exceedsDepth({ a: [] }, 1, jsonChildren)).toBe(true);
    expect(exceedsDepth([[1], { b: [2] }], 3, jsonChildren)).toBe(false);
    expect(exceedsDepth([[1], { b: [2] }], 2, jsonChildren)).toBe(true);
  });

  it("allows exactly the limit and refuses one more", () => {
    expect(exceedsDepth(nested(DEFAULT_MAX_JSON_DEPTH), DEFAULT_MAX_JSON_DEPTH, jsonChildren)).toBe(false);
    expect(exceedsDepth(nested(DEFAULT_MAX_JSON_DEPTH + 1), DEFAULT_MAX_JSON_DEPTH, jsonChildren)).toBe(true);
  });

  it("finds the deep branch among shallow siblings", () => {
    const doc = { wide: Array.from({ length: 1000 }, (_, i) => ({ i })), deep: nested(400) };
    expect(exceedsDepth(doc, DEFAULT_MAX_JSON_DEPTH, jsonChildren)).toBe(true);
  });

  it("walks a document far deeper than the call stack allows without throwing", () => {
    const doc = nested(200_000);
    expect(() => JSON.stringify(doc)).toThrow(RangeError);
    expect(exceedsDepth(doc, 250_000, jsonChildren)).toBe(false);
    expect(exceedsDepth(doc, DEFAULT_MAX_JSON_DEPTH, jsonChildren)).toBe(true);
  });

  it("takes any tree through its children function", () => {
    type Node = { kids: Node[] };
    const tree: Node = { kids: [{ kids: [{ kids: [] }] }] };
    expect(exceedsDepth(tree, 3, (n) => n.kids)).toBe(false);
    expect(exceedsDepth(tree, 2, (n) => n.kids)).toBe(true);
  });

  it("words the refusal with the limit", () => {
    expect(depthMessage(300)).toBe("nesting exceeds the maximum depth of 300");
  });
});
