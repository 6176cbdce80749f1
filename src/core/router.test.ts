import { describe, expect, it } from "vitest";
import { operationFor } from "./router.js";

describe("operationFor", () => {
  it("maps Vault's methods to operations", () => {
    expect(operationFor("GET", undefined)).toBe("read");
    expect(operationFor("HEAD", undefined)).toBe("read");
    expect(operationFor("LIST", undefined)).toBe("list");
    expect(operationFor("POST", undefined)).toBe("update");
    expect(operationFor("PUT", undefined)).toBe("update");
    expect(operationFor("PATCH", undefined)).toBe("patch");
    expect(operationFor("DELETE", undefined)).toBe("delete");
    expect(operationFor("OPTIONS", undefined)).toBeUndefined();
  });

  it("lists a GET whose list flag is true in any of Go's spellings; an empty flag is none", () => {
    for (const value of ["1", "t", "T", "TRUE", "true", "True"]) expect(operationFor("GET", value)).toBe("list");
    for (const value of ["0", "f", "F", "FALSE", "false", "False", ""]) expect(operationFor("GET", value)).toBe("read");
  });

  it("refuses a GET with any other list flag, and reads the flag on GET only, as Vault does", () => {
    expect(() => operationFor("GET", "yes")).toThrow('query parameter "list" must be a boolean');
    expect(operationFor("POST", "yes")).toBe("update");
    expect(operationFor("LIST", "false")).toBe("list");
  });
});
