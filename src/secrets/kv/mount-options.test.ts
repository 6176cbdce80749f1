import { describe, expect, it } from "vitest";
import { kvVersionOf, normaliseKvMount, normaliseKvTune } from "./mount-options.js";

describe("kvVersionOf", () => {
  it("is version 1 unless options.version says 2, as Vault's kv plugin decides", () => {
    expect(kvVersionOf({})).toBe("1");
    expect(kvVersionOf({ version: "" })).toBe("1");
    expect(kvVersionOf({ version: "1" })).toBe("1");
    expect(kvVersionOf({ version: "2" })).toBe("2");
  });

  it("refuses any other version, naming the field", () => {
    for (const version of ["3", "0", "v2", " 2"]) {
      expect(() => kvVersionOf({ version })).toThrow(
        expect.objectContaining({ status: 400, message: `field "options.version" must be "1" or "2", not "${version}"` }),
      );
    }
  });
});

describe("normaliseKvMount", () => {
  it("writes the version of a kv mount out, version 1 by default", () => {
    expect(normaliseKvMount("kv", {})).toEqual({ type: "kv", options: { version: "1" } });
    expect(normaliseKvMount("kv", { version: "2", other: "x" })).toEqual({ type: "kv", options: { version: "2", other: "x" } });
  });

  it("turns the kv-v1 and kv-v2 aliases into kv with their version, whatever options.version said", () => {
    expect(normaliseKvMount("kv-v2", {})).toEqual({ type: "kv", options: { version: "2" } });
    expect(normaliseKvMount("kv-v2", { version: "1" })).toEqual({ type: "kv", options: { version: "2" } });
    expect(normaliseKvMount("kv-v1", { version: "2" })).toEqual({ type: "kv", options: { version: "1" } });
  });

  it("refuses a kv mount with an unknown version", () => {
    expect(() => normaliseKvMount("kv", { version: "9" })).toThrow('field "options.version" must be "1" or "2", not "9"');
  });

  it("leaves other types alone", () => {
    expect(normaliseKvMount("kubernetes", { version: "9" })).toEqual({ type: "kubernetes", options: { version: "9" } });
  });
});

describe("normaliseKvTune", () => {
  it("keeps a kv mount's version, written out", () => {
    expect(normaliseKvTune("kv", { version: "1" }, { version: "1", x: "y" })).toEqual({ version: "1", x: "y" });
    expect(normaliseKvTune("kv", {}, { x: "y" })).toEqual({ version: "1", x: "y" });
    expect(normaliseKvTune("kv", { version: "2" }, { version: "2" })).toEqual({ version: "2" });
  });

  it("refuses to change a kv mount's version either way", () => {
    expect(() => normaliseKvTune("kv", { version: "1" }, { version: "2" })).toThrow(
      expect.objectContaining({
        status: 400,
        message: "upgrading a kv mount from version 1 to version 2 is not supported; mount a version 2 engine and copy the secrets",
      }),
    );
    expect(() => normaliseKvTune("kv", { version: "2" }, { version: "1" })).toThrow(
      "cannot downgrade a kv mount from version 2 to version 1",
    );
    expect(() => normaliseKvTune("kv", { version: "2" }, { version: "" })).toThrow(
      "cannot downgrade a kv mount from version 2 to version 1",
    );
    expect(() => normaliseKvTune("kv", { version: "1" }, { version: "x" })).toThrow('field "options.version" must be "1" or "2", not "x"');
  });

  it("leaves other types alone", () => {
    expect(normaliseKvTune("kubernetes", {}, { version: "7" })).toEqual({ version: "7" });
  });
});
