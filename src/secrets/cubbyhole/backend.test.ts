import { beforeEach, describe, expect, it } from "vitest";
import type { TokenEntry, TokenType } from "../../core/types.js";
import type { StorageView } from "../../storage/types.js";
import { type KvHarness, createKvHarness } from "../kv/test-harness.js";
import { clearCubbyhole, createCubbyholeBackend, cubbyholeBackendFactory } from "./index.js";

const notFound = { status: 404, message: "" };
const bad = (message: string) => ({ status: 400, message });

function token(key: string, type: TokenType = "service"): TokenEntry {
  return {
    key,
    accessor: `acc-${key}`,
    type,
    policies: ["default"],
    metadata: {},
    path: "auth/token/create",
    displayName: "token",
    creationTime: 0,
    expireTime: 0,
    explicitMaxTtl: 0,
    ttl: 0,
    period: 0,
    renewable: false,
    numUses: 0,
    orphan: false,
  };
}

const alice = token("a1a1");
const bob = token("b2b2");
const root = token("f0f0");

let h: KvHarness;
beforeEach(() => {
  h = createKvHarness(undefined, { backend: () => createCubbyholeBackend() });
});

describe("cubbyhole paths", () => {
  it("declares the root list and one catch-all path, without patch", async () => {
    const backend = await cubbyholeBackendFactory({
      storage: h.storage,
      mountPath: "cubbyhole/",
      config: { defaultLeaseTtl: 0, maxLeaseTtl: 0, options: {} },
      logger: { debug() {}, info() {}, warn() {}, error() {} },
    });
    expect(backend.paths.map((p) => p.pattern)).toEqual(["", "*path"]);
    expect(Object.keys(backend.paths[1].ops).sort()).toEqual(["create", "delete", "list", "read", "update"]);
  });
});

describe("one token's cubbyhole", () => {
  it("writes, reads (without a lease), lists and deletes", async () => {
    expect(await h.write("app/db", { pass: "s3cret", n: 1 }, alice)).toBeUndefined();
    expect(await h.call("read", "app/db", {}, h.storage, alice)).toEqual({ data: { pass: "s3cret", n: 1 } });
    expect(await h.call("list", "", {}, h.storage, alice)).toEqual({ data: { keys: ["app/"] } });
    expect(await h.call("list", "app/", {}, h.storage, alice)).toEqual({ data: { keys: ["db"] } });
    expect(await h.call("delete", "app/db", {}, h.storage, alice)).toBeUndefined();
    await expect(h.call("read", "app/db", {}, h.storage, alice)).rejects.toMatchObject(notFound);
    await expect(h.call("list", "", {}, h.storage, alice)).rejects.toMatchObject(notFound);
  });

  it("replaces the whole secret on every write and keeps a ttl key as plain data", async () => {
    await h.write("x", { a: "1", b: "2" }, alice);
    await h.write("x", { ttl: "1h" }, alice);
    expect(await h.call("read", "x", {}, h.storage, alice)).toEqual({ data: { ttl: "1h" } });
  });

  it("refuses a write without fields and bad paths", async () => {
    await expect(h.write("x", {}, alice)).rejects.toMatchObject(bad("missing data fields"));
    await expect(h.write("x/", { a: "1" }, alice)).rejects.toMatchObject(bad('path "x/" must not end with "/"'));
  });

  it("stores under the token's key, never anything else of the token", async () => {
    await h.write("app", { password: "hunter2-value" }, alice);
    expect(await h.store.scan("")).toEqual(["logical/kv-test/a1a1/app"]);
  });
});

describe("isolation", () => {
  beforeEach(async () => {
    await h.write("shared/name", { who: "alice" }, alice);
    await h.write("shared/name", { who: "bob" }, bob);
  });

  it("gives each token its own secret at the same path", async () => {
    expect((await h.call("read", "shared/name", {}, h.storage, alice))?.data).toEqual({ who: "alice" });
    expect((await h.call("read", "shared/name", {}, h.storage, bob))?.data).toEqual({ who: "bob" });
  });

  it("shows a token nothing of another token, root included", async () => {
    await h.write("only-alice", { v: "1" }, alice);
    await expect(h.call("read", "only-alice", {}, h.storage, bob)).rejects.toMatchObject(notFound);
    await expect(h.call("read", "only-alice", {}, h.storage, root)).rejects.toMatchObject(notFound);
    await expect(h.call("list", "", {}, h.storage, root)).rejects.toMatchObject(notFound);
    expect((await h.call("list", "", {}, h.storage, bob))?.data).toEqual({ keys: ["shared/"] });
  });

  it("cannot name another token's area through the path", async () => {
    await expect(h.call("read", "../a1a1/shared/name", {}, h.storage, bob)).rejects.toMatchObject(
      bad('path "../a1a1/shared/name" must not contain "." or ".." segments'),
    );
    await expect(h.call("read", "a1a1/shared/name", {}, h.storage, bob)).rejects.toMatchObject(notFound);
  });

  it("deletes only the caller's secret", async () => {
    await h.call("delete", "shared/name", {}, h.storage, bob);
    expect((await h.call("read", "shared/name", {}, h.storage, alice))?.data).toEqual({ who: "alice" });
  });

  it("makes a token's first write a create even when another token has the path", async () => {
    expect(await h.exists("shared/name", alice)).toBe(true);
    expect(await h.exists("shared/name", root)).toBe(false);
  });
});

describe("batch tokens", () => {
  const batch = token("c3c3", "batch");
  const refused = bad('cubbyhole operations are only supported by "service" type tokens');

  it("are refused for every operation", async () => {
    await expect(h.write("x", { a: "1" }, batch)).rejects.toMatchObject(refused);
    await expect(h.call("read", "x", {}, h.storage, batch)).rejects.toMatchObject(refused);
    await expect(h.call("delete", "x", {}, h.storage, batch)).rejects.toMatchObject(refused);
    await expect(h.call("list", "", {}, h.storage, batch)).rejects.toMatchObject(refused);
    await expect(h.call("list", "x/", {}, h.storage, batch)).rejects.toMatchObject(refused);
    expect(await h.store.scan("")).toEqual([]);
  });

  it("are refused by the handler, not by the existence check, which runs before the ACL", async () => {
    await expect(h.exists("x", batch)).resolves.toBe(false);
  });
});

describe("a request without a token", () => {
  it("is refused", async () => {
    await expect(h.call("read", "x")).rejects.toMatchObject({ status: 403, message: "permission denied" });
  });
});

describe("clearCubbyhole", () => {
  it("deletes everything of one token and nothing of another", async () => {
    for (const path of ["a", "b/c", "b/d/e"]) await h.write(path, { v: path }, alice);
    await h.write("a", { v: "bob" }, bob);
    await clearCubbyhole(h.storage, alice.key);
    expect(await h.store.scan("")).toEqual(["logical/kv-test/b2b2/a"]);
    await clearCubbyhole(h.storage, alice.key);
  });

  it("deletes in pages, each in its own transaction", async () => {
    for (let i = 0; i < 1203; i++) await h.storage.putJSON(`${alice.key}/k${i}`, { i });
    await h.write("keep", { v: "1" }, bob);
    let transactions = 0;
    const counting: StorageView = {
      ...h.storage,
      transaction: (fn) => {
        transactions++;
        return h.storage.transaction(fn);
      },
    };
    await clearCubbyhole(counting, alice.key);
    expect(transactions).toBe(3);
    expect(await h.store.scan("")).toEqual(["logical/kv-test/b2b2/keep"]);
  });

  it("refuses a key that would reach beyond one token", async () => {
    await h.write("a", { v: "1" }, alice);
    for (const key of ["", "a1a1/..", "x/y"]) {
      await expect(clearCubbyhole(h.storage, key)).rejects.toMatchObject({ status: 500 });
    }
    expect(await h.store.scan("")).toEqual(["logical/kv-test/a1a1/a"]);
  });
});
