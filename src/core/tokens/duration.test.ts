import { describe, expect, it } from "vitest";
import { parseDuration } from "./duration.js";

describe("parseDuration", () => {
  it.each([
    [undefined, 0],
    [null, 0],
    ["", 0],
    [0, 0],
    [90, 90],
    [1.9, 1],
    ["300", 300],
    ["30s", 30],
    ["5m", 300],
    ["1h", 3600],
    ["2h30m", 9000],
    ["1h2m3s", 3723],
    ["768h", 2_764_800],
    ["1.5h", 5400],
    ["1500ms", 1],
    ["7d", 604_800],
    [" 10m ", 600],
  ])("%j is %i seconds", (input, seconds) => {
    expect(parseDuration(input, "ttl")).toBe(seconds);
  });

  it.each([["abc"], ["-5"], [-1], ["1y"], ["1h-5m"], ["h"], ["1d2h"], [NaN], [Infinity], [true], [{}], [["1h"]]])(
    "%j is a 400 naming the field",
    (input) => {
      expect(() => parseDuration(input, "explicit_max_ttl")).toThrowError(
        expect.objectContaining({
          status: 400,
          message: 'field "explicit_max_ttl" must be a duration such as "30s", "5m", "1h" or a number of seconds',
        }),
      );
    },
  );
});
