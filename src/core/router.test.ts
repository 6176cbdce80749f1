import { describe, expect, it } from "vitest";
import { createRouter, operationFor, type MountEntry } from "./router.js";
import type { Backend } from "./types.js";

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

describe("createRouter's resolved-path memo", () => {
  const entry = (path: string, type: string): MountEntry => ({
    path,
    type,
    uuid: type,
    accessor: type,
    description: "",
    options: {},
    config: { default_lease_ttl: 0, max_lease_ttl: 0 },
    local: false,
    seal_wrap: false,
    table: "mounts",
  });
  const backend = (...patterns: string[]): Backend => ({ paths: patterns.map((pattern) => ({ pattern, ops: {} }) as never) });

  it("gives each request its own params, and follows mounts, remounts and unmounts", () => {
    const router = createRouter();
    const kv = backend("data/*path", "config");
    router.mount(entry("secret/", "kv"), kv);
    for (let i = 0; i < 3; i++) {
      const again = router.route("secret/data/app/db");
      expect(again.match?.params).toEqual({ path: "app/db" });
      again.match!.params.extra = "added by a handler";
      again.match!.params.path = "changed";
    }

    router.mount(entry("secret/", "other"), backend("data/:name/*path"));
    const remounted = router.route("secret/data/app/db");
    expect(remounted.mount?.entry.type).toBe("other");
    expect(remounted.match?.params).toEqual({ name: "app", path: "db" });

    router.mount(entry("secret/data/", "nested"), backend("*rest"));
    expect(router.route("secret/data/app/db").mount?.entry.type).toBe("nested");

    router.unmount("secret/data/");
    router.unmount("secret/");
    expect(router.route("secret/data/app/db")).toEqual({});
    router.mount(entry("secret/", "kv"), kv);
    expect(router.route("secret/config").match?.def.pattern).toBe("config");
    router.clear();
    expect(router.route("secret/config")).toEqual({});
  });

  it("stays bounded when clients send many distinct paths", () => {
    const router = createRouter();
    router.mount(entry("secret/", "kv"), backend("data/*path"));
    for (let i = 0; i < 10_000; i++) expect(router.route(`secret/data/${i}`).match?.params.path).toBe(String(i));
    expect(router.route("secret/data/1").match?.params.path).toBe("1");
  });
});
