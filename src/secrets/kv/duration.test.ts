import { describe, expect, it } from "vitest";
import { formatDuration, parseDurationSeconds } from "./duration.js";

describe("parseDurationSeconds", () => {
  it.each([
    ["0s", 0],
    ["0", 0],
    ["30s", 30],
    ["3h25m19s", 12319],
    ["1.5h", 5400],
    ["500ms", 0.5],
    ["2d", 172800],
    ["90", 90],
    ["-1m", -60],
  ])("parses %j", (input, seconds) => {
    expect(parseDurationSeconds(input, "ttl")).toBeCloseTo(seconds, 9);
  });

  it("takes a number as seconds", () => {
    expect(parseDurationSeconds(45, "ttl")).toBe(45);
  });

  it.each(["", "1x", "h", "1h 2m", "abc", "1.2.3s"])("refuses %j naming the field", (input) => {
    expect(() => parseDurationSeconds(input, "delete_version_after")).toThrow(
      'field "delete_version_after" must be a duration such as "30s", "1h30m" or a number of seconds',
    );
  });

  it("refuses a non-string, non-number", () => {
    expect(() => parseDurationSeconds(true, "ttl")).toThrow(/field "ttl"/);
  });
});

describe("formatDuration", () => {
  it.each([
    [0, "0s"],
    [30, "30s"],
    [90, "1m30s"],
    [3600, "1h0m0s"],
    [12319, "3h25m19s"],
    [1.5, "1.5s"],
    [0.5, "500ms"],
    [0.0000015, "1.5µs"],
    [0.000000002, "2ns"],
    [-60, "-1m0s"],
  ])("renders %d seconds as Go does: %s", (seconds, text) => {
    expect(formatDuration(seconds)).toBe(text);
  });

  it("round-trips what it renders", () => {
    for (const s of [1, 59, 61, 3599, 86400 * 400 + 1]) expect(parseDurationSeconds(formatDuration(s), "x")).toBe(s);
  });
});
