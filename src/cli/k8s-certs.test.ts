import { describe, expect, it } from "vitest";
import { selectPath } from "./k8s-certs.js";

describe("--jq-expression", () => {
  it("selects dotted paths, strings raw and the rest as JSON", () => {
    const value = { data: "-----BEGIN CERTIFICATE REQUEST-----\n", nested: { key: "k", list: [1] } };
    expect(selectPath(value, ".data")).toBe(value.data);
    expect(selectPath(value, ".nested.key")).toBe("k");
    expect(JSON.parse(selectPath(value, ".nested.list"))).toEqual([1]);
    expect(selectPath(value, ".absent")).toBe("null");
    expect(JSON.parse(selectPath(value, "."))).toEqual(value);
  });

  it.each([".a | .b", "data", ".a[0]", ""])("refuses %j", (expr) => {
    expect(() => selectPath({}, expr)).toThrow(/--jq-expression supports only dotted paths/);
  });
});
