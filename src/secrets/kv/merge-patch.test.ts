import { describe, expect, it } from "vitest";
import { mergePatch } from "./merge-patch.js";

describe("mergePatch (RFC 7386)", () => {
  it("adds, replaces and removes keys", () => {
    expect(mergePatch({ a: "1", b: "2", c: "3" }, { a: "x", b: null, d: "4" })).toEqual({ a: "x", c: "3", d: "4" });
  });

  it("merges nested objects and replaces arrays whole", () => {
    const target = { db: { user: "app", pass: "old" }, hosts: ["a", "b"] };
    expect(mergePatch(target, { db: { pass: "new", port: 5432 }, hosts: ["c"] })).toEqual({
      db: { user: "app", pass: "new", port: 5432 },
      hosts: ["c"],
    });
  });

  it("replaces a scalar with an object and drops nulls inside it", () => {
    expect(mergePatch({ a: "s" }, { a: { b: "1", c: null } })).toEqual({ a: { b: "1" } });
  });

  it("leaves the target untouched", () => {
    const target = { a: { b: "1" } };
    mergePatch(target, { a: { b: "2" } });
    expect(target).toEqual({ a: { b: "1" } });
  });
});
