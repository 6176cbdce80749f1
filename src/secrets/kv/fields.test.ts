import { describe, expect, it } from "vitest";
import { boolField, durationField, intField, intListField, nonNegativeIntField, objectField } from "./fields.js";

describe("field readers", () => {
  it("read query strings and JSON values alike", () => {
    expect(intField({ n: "2" }, "n")).toBe(2);
    expect(intField({ n: 2 }, "n")).toBe(2);
    expect(boolField({ b: "true" }, "b")).toBe(true);
    expect(boolField({ b: false }, "b")).toBe(false);
    expect(boolField({ b: "0" }, "b")).toBe(false);
    expect(durationField({ d: "1h" }, "d")).toBe(3600);
    expect(durationField({ d: 60 }, "d")).toBe(60);
  });

  it("treat absent and null as not given", () => {
    for (const read of [intField, boolField, durationField, objectField, intListField]) {
      expect(read({}, "x")).toBeUndefined();
      expect(read({ x: null }, "x")).toBeUndefined();
    }
  });

  it("name the field in their errors", () => {
    expect(() => intField({ max_versions: "ten" }, "max_versions")).toThrow('field "max_versions" must be an integer');
    expect(() => intField({ n: 1.5 }, "n")).toThrow('field "n" must be an integer');
    expect(() => intField({ n: "" }, "n")).toThrow('field "n" must be an integer');
    expect(() => nonNegativeIntField({ cas: -1 }, "cas")).toThrow('field "cas" must not be negative');
    expect(() => boolField({ cas_required: "yes" }, "cas_required")).toThrow('field "cas_required" must be a boolean');
    expect(() => durationField({ d: "-1s" }, "d")).toThrow('field "d" must be a duration');
    expect(() => objectField({ options: [1] }, "options")).toThrow('field "options" must be an object');
    expect(() => objectField({ options: "x" }, "options")).toThrow('field "options" must be an object');
  });

  it("read version lists as Vault's comma-int-slice", () => {
    expect(intListField({ v: [1, 2] }, "v")).toEqual([1, 2]);
    expect(intListField({ v: ["1", "3"] }, "v")).toEqual([1, 3]);
    expect(intListField({ v: "1, 2,3" }, "v")).toEqual([1, 2, 3]);
    expect(intListField({ v: "" }, "v")).toEqual([]);
    expect(() => intListField({ versions: [1, "a"] }, "versions")).toThrow('field "versions" must be a list of integers');
    expect(() => intListField({ versions: 3 }, "versions")).toThrow('field "versions" must be a list of integers');
    expect(() => intListField({ versions: [-1] }, "versions")).toThrow('field "versions" must be a list of integers');
  });
});
