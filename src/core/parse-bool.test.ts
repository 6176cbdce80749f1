import { describe, expect, it } from "vitest";
import { boolValue, parseBool } from "./parse-bool.js";

describe("parseBool", () => {
  it.each(["1", "t", "T", "TRUE", "true", "True"])("reads %s as true", (value) => {
    expect(parseBool(value, "x")).toBe(true);
  });

  it.each(["0", "f", "F", "FALSE", "false", "False"])("reads %s as false", (value) => {
    expect(parseBool(value, "x")).toBe(false);
  });

  it.each(["", "yes", "no", "on", "tRUE", "truE", "2", " true", "true "])("refuses %j with 400 naming the parameter", (value) => {
    expect(() => parseBool(value, 'query parameter "list"')).toThrow(
      expect.objectContaining({
        status: 400,
        message: 'query parameter "list" must be a boolean: 1, t, T, TRUE, true, True, 0, f, F, FALSE, false or False',
      }),
    );
  });
});

describe("boolValue", () => {
  it.each([
    [true, true],
    [false, false],
    [1, true],
    [0, false],
    ["T", true],
    ["False", false],
  ])("reads %j as %j", (value, expected) => {
    expect(boolValue(value, "flag")).toBe(expected);
  });

  it.each([["yes"], [2], [null], [{}]])("refuses %j, naming the field", (value) => {
    expect(() => boolValue(value, "flag")).toThrow('field "flag" must be a boolean');
  });
});
