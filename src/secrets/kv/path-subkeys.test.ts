import { beforeEach, describe, expect, it } from "vitest";
import { subkeys } from "./path-subkeys.js";
import { type KvHarness, createKvHarness } from "./test-harness.js";

const T0 = "2024-05-01T10:00:00.000Z";
const notFound = { status: 404, message: "" };
const bad = (message: string) => ({ status: 400, message });
const nested = { foo: "abc", bar: "def", baz: { quux: "ghi", deeper: { x: 1, list: [{ a: 1 }] } }, empty: {}, n: null };

let h: KvHarness;
beforeEach(() => {
  h = createKvHarness(Date.parse(T0));
});

describe("subkeys()", () => {
  it("replaces every value by null and keeps the object structure", () => {
    expect(subkeys(nested, 0)).toEqual({
      foo: null,
      bar: null,
      baz: { quux: null, deeper: { x: null, list: null } },
      empty: {},
      n: null,
    });
  });

  it("treats keys at the given depth as leaves", () => {
    expect(subkeys(nested, 1)).toEqual({ foo: null, bar: null, baz: null, empty: null, n: null });
    expect(subkeys(nested, 2)).toEqual({ foo: null, bar: null, baz: { quux: null, deeper: null }, empty: {}, n: null });
  });
});

describe("subkeys/<path>", () => {
  it("answers the latest version's keys with its metadata, as Vault documents", async () => {
    await h.write("data/app", { data: { v: "1" } });
    await h.write("data/app", { data: nested });
    expect(await h.call("read", "subkeys/app")).toEqual({
      data: {
        subkeys: { foo: null, bar: null, baz: { quux: null, deeper: { x: null, list: null } }, empty: {}, n: null },
        metadata: { created_time: T0, custom_metadata: null, deletion_time: "", destroyed: false, version: 2 },
      },
    });
  });

  it("reads a given version and a given depth, from query strings too", async () => {
    await h.write("data/app", { data: { old: { k: "v" } } });
    await h.write("data/app", { data: nested });
    expect((await h.call("read", "subkeys/app", { version: "1" }))?.data?.subkeys).toEqual({ old: { k: null } });
    expect((await h.call("read", "subkeys/app", { version: 1, depth: "1" }))?.data?.subkeys).toEqual({ old: null });
    expect((await h.call("read", "subkeys/app", { depth: 0 }))?.data?.subkeys).toEqual(subkeys(nested, 0));
  });

  it("shows custom metadata like a data read", async () => {
    await h.write("data/app", { data: { a: "1" } });
    await h.write("metadata/app", { custom_metadata: { owner: "team-a" } });
    expect((await h.call("read", "subkeys/app"))?.data?.metadata).toMatchObject({ custom_metadata: { owner: "team-a" } });
  });

  it("answers 404 with the metadata for a deleted or destroyed version", async () => {
    await h.write("data/app", { data: { a: "1" } });
    await h.write("data/app", { data: { a: "2" } });
    await h.call("delete", "data/app");
    expect(await h.call("read", "subkeys/app")).toEqual({
      status: 404,
      data: {
        subkeys: null,
        metadata: { created_time: T0, custom_metadata: null, deletion_time: T0, destroyed: false, version: 2 },
      },
    });
    await h.write("destroy/app", { versions: [1] });
    expect(await h.call("read", "subkeys/app", { version: 1 })).toMatchObject({
      status: 404,
      data: { subkeys: null, metadata: { destroyed: true, version: 1 } },
    });
  });

  it("answers a bare 404 for a missing secret or version", async () => {
    await expect(h.call("read", "subkeys/nope")).rejects.toMatchObject(notFound);
    await h.write("data/app", { data: { a: "1" } });
    await expect(h.call("read", "subkeys/app", { version: 7 })).rejects.toMatchObject(notFound);
  });

  it("refuses a bad version, depth or path", async () => {
    await h.write("data/app", { data: { a: "1" } });
    await expect(h.call("read", "subkeys/app", { depth: "-1" })).rejects.toMatchObject(bad('field "depth" must not be negative'));
    await expect(h.call("read", "subkeys/app", { depth: "deep" })).rejects.toMatchObject(bad('field "depth" must be an integer'));
    await expect(h.call("read", "subkeys/app", { version: "-2" })).rejects.toMatchObject(bad('field "version" must not be negative'));
    await expect(h.call("read", "subkeys/app/")).rejects.toMatchObject(bad('path "app/" must not end with "/"'));
  });

  it("offers only reads", () => {
    const def = h.backend.paths.find((p) => p.pattern === "subkeys/*path");
    expect(Object.keys(def?.ops ?? {})).toEqual(["read"]);
  });
});
