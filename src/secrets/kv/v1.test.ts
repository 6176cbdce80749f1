import { beforeEach, describe, expect, it } from "vitest";
import type { LogicalResponse } from "../../core/types.js";
import { type KvHarness, createKvHarness, findPath } from "./test-harness.js";
import { type KvV1Config, createKvV1Backend, leaseDuration } from "./v1.js";

const notFound = { status: 404, message: "" };
const bad = (message: string) => ({ status: 400, message });
const VAULT_DEFAULT_TTL = 2_764_800;

let config: KvV1Config;
let h: KvHarness;
beforeEach(() => {
  // What the mount table hands a backend: the TTLs in force, the system's 768h when the mount sets none.
  config = { defaultLeaseTtl: 2764800, maxLeaseTtl: 2764800 };
  h = createKvHarness(undefined, { backend: () => createKvV1Backend(config) });
});

/** A read's answer as the core receives it: the data, and lease fields without a lease. */
const readOf = (data: Record<string, unknown>, ttl = VAULT_DEFAULT_TTL): LogicalResponse => ({
  data,
  leaseInfo: { leaseId: "", renewable: false, ttl },
});

describe("KV version 1 paths", () => {
  it("declares the root list and one catch-all path", () => {
    expect(h.backend.paths.map((p) => p.pattern)).toEqual(["", "*path"]);
    expect(findPath(h.backend.paths, "")?.def.pattern).toBe("");
    expect(findPath(h.backend.paths, "data/app")?.params).toEqual({ path: "data/app" });
    expect(findPath(h.backend.paths, "team/")?.params).toEqual({ path: "team/" });
    const catchAll = h.backend.paths[1];
    expect(Object.keys(catchAll.ops).sort()).toEqual(["create", "delete", "list", "read", "update"]);
    expect(catchAll.ops.create).toBe(catchAll.ops.update);
    expect(h.backend.paths.every((p) => p.help)).toBe(true);
  });
});

describe("read and write", () => {
  it("stores the whole body as the secret and reads it back with the default lease duration", async () => {
    expect(await h.write("app/db", { user: "app", pass: "s3cret", nested: { n: 1, ok: true } })).toBeUndefined();
    expect(await h.call("read", "app/db")).toEqual(readOf({ user: "app", pass: "s3cret", nested: { n: 1, ok: true } }));
  });

  it("replaces the whole secret on every write", async () => {
    await h.write("app", { a: "1", b: "2" });
    await h.write("app", { c: "3" });
    expect((await h.call("read", "app"))?.data).toEqual({ c: "3" });
  });

  it("makes the first write a create and later ones updates", async () => {
    expect(await h.exists("app")).toBe(false);
    await h.write("app", { a: "1" });
    expect(await h.exists("app")).toBe(true);
    // A bad path is refused by the handler, after the ACL check, not by the existence check.
    expect(await h.exists("app/")).toBe(false);
  });

  it("answers a missing secret with Vault's bare 404", async () => {
    await expect(h.call("read", "nope")).rejects.toMatchObject(notFound);
  });

  it("refuses a write without fields", async () => {
    await expect(h.write("app", {})).rejects.toMatchObject(bad("missing data fields"));
  });

  it("refuses bad paths", async () => {
    await expect(h.write("app/", { a: "1" })).rejects.toMatchObject(bad('path "app/" must not end with "/"'));
    await expect(h.call("read", "a//b")).rejects.toMatchObject(bad('path "a//b" must not contain an empty segment'));
    await expect(h.call("delete", "a/./b")).rejects.toMatchObject(bad('path "a/./b" must not contain "." or ".." segments'));
  });

  it("offers no patch, as Vault's kv v1 does not", async () => {
    expect(h.backend.paths[1].ops.patch).toBeUndefined();
  });

  it("stores under data/ in the mount's view, with no secret value in a key", async () => {
    await h.write("team/app", { password: "hunter2-value" });
    expect(await h.store.scan("")).toEqual(["logical/kv-test/data/team/app"]);
  });
});

describe("lease duration", () => {
  it("is the stored ttl, which stays part of the data", async () => {
    await h.write("app", { a: "1", ttl: "1h" });
    expect(await h.call("read", "app")).toEqual(readOf({ a: "1", ttl: "1h" }, 3600));
    await h.write("app", { a: "1", ttl: 90 });
    expect((await h.call("read", "app"))?.leaseInfo?.ttl).toBe(90);
    await h.write("app", { a: "1", ttl: "0" });
    expect((await h.call("read", "app"))?.leaseInfo?.ttl).toBe(0);
  });

  it("falls back to the legacy lease key", async () => {
    await h.write("app", { a: "1", lease: "30m" });
    expect((await h.call("read", "app"))?.leaseInfo?.ttl).toBe(1800);
  });

  it("is the mount's default lease TTL otherwise, as tuned", async () => {
    await h.write("app", { a: "1", ttl: "" });
    config.defaultLeaseTtl = 600;
    expect((await h.call("read", "app"))?.leaseInfo?.ttl).toBe(600);
  });

  it("refuses a write whose ttl does not parse, naming the field", async () => {
    const message = 'field "ttl" must be a duration such as "30s", "5m", "1h" or a number of seconds';
    await expect(h.write("app", { a: "1", ttl: "soon" })).rejects.toMatchObject(bad(message));
    await expect(h.write("app", { a: "1", ttl: -5 })).rejects.toMatchObject(bad(message));
    await expect(h.write("app", { a: "1", lease: {} })).rejects.toMatchObject(bad(message.replace('"ttl"', '"lease"')));
  });

  it("ignores a stored ttl that no longer parses", () => {
    expect(leaseDuration({ ttl: "soon" }, { defaultLeaseTtl: 60, maxLeaseTtl: 0 })).toBe(60);
  });
});

describe("delete and list", () => {
  beforeEach(async () => {
    for (const path of ["app/db", "app/cache", "team/x/y", "zeta"]) await h.write(path, { v: path });
  });

  it("deletes a secret, and deleting a missing one is a no-op", async () => {
    expect(await h.call("delete", "app/db")).toBeUndefined();
    await expect(h.call("read", "app/db")).rejects.toMatchObject(notFound);
    expect(await h.call("delete", "app/db")).toBeUndefined();
  });

  it("lists the root and folders, folders ending in /", async () => {
    expect(await h.call("list", "")).toEqual({ data: { keys: ["app/", "team/", "zeta"] } });
    expect(await h.call("list", "app/")).toEqual({ data: { keys: ["cache", "db"] } });
    expect(await h.call("list", "app")).toEqual({ data: { keys: ["cache", "db"] } });
    expect(await h.call("list", "team/")).toEqual({ data: { keys: ["x/"] } });
  });

  it("answers an empty folder with Vault's bare 404", async () => {
    await expect(h.call("list", "nope/")).rejects.toMatchObject(notFound);
    await expect(h.call("list", "zeta/")).rejects.toMatchObject(notFound);
    for (const path of ["app/db", "app/cache", "team/x/y", "zeta"]) await h.call("delete", path);
    await expect(h.call("list", "")).rejects.toMatchObject(notFound);
  });
});
