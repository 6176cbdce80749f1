import { describe, expect, it } from "vitest";
import { isDeleted, metaKey, validateSecretPath, versionKey } from "./store.js";

describe("validateSecretPath", () => {
  it("accepts nested paths", () => {
    expect(validateSecretPath("team/app/db")).toBe("team/app/db");
  });

  it.each([
    ["", "missing path"],
    ["app/", 'path "app/" must not end with "/"'],
    ["a//b", 'path "a//b" must not contain an empty segment'],
    ["/a", 'path "/a" must not contain an empty segment'],
    ["a/../b", 'path "a/../b" must not contain "." or ".." segments'],
    ["..", 'path ".." must not contain "." or ".." segments'],
    ["./a", 'path "./a" must not contain "." or ".." segments'],
  ])("refuses %j with 400", (path, message) => {
    expect(() => validateSecretPath(path)).toThrow(expect.objectContaining({ status: 400, message }));
  });

  it("lets a list name the root or a folder with a trailing slash", () => {
    expect(validateSecretPath("", { list: true })).toBe("");
    expect(validateSecretPath("team/", { list: true })).toBe("team");
    expect(() => validateSecretPath("a//", { list: true })).toThrow('path "a//" must not contain an empty segment');
  });
});

describe("storage layout", () => {
  it("keeps metadata and version data apart", () => {
    expect(metaKey("a/b")).toBe("meta/a/b");
    expect(versionKey("a/b", 3)).toBe("ver/a/b/3");
  });

  it("counts a version deleted only once its deletion time has passed", () => {
    const now = new Date("2024-05-01T10:00:00Z");
    const vm = (deletion_time: string) => ({ created_time: "", deletion_time, destroyed: false });
    expect(isDeleted(vm(""), now)).toBe(false);
    expect(isDeleted(vm("2024-05-01T10:00:00.000Z"), now)).toBe(true);
    expect(isDeleted(vm("2024-05-01T10:00:01.000Z"), now)).toBe(false);
  });
});
