import { describe, expect, it } from "vitest";
import { parseDuration } from "../../core/tokens/duration.js";
import { formatDuration } from "./duration.js";

describe("formatDuration", () => {
  it.each([
    [0, "0s"],
    [30, "30s"],
    [90, "1m30s"],
    [3600, "1h0m0s"],
    [12319, "3h25m19s"],
    [86400 * 400 + 1, "9600h0m1s"],
  ])("renders %d seconds as Go does: %s", (seconds, text) => {
    expect(formatDuration(seconds)).toBe(text);
  });

  it("round-trips through the core's parser", () => {
    for (const s of [0, 1, 59, 61, 3599, 3601, 86400 * 400 + 1]) expect(parseDuration(formatDuration(s), "x")).toBe(s);
  });
});
