import { beforeEach, describe, expect, it } from "vitest";
import { type KvHarness, createKvHarness } from "./test-harness.js";

const T0 = "2024-05-01T10:00:00.000Z";
const notFound = { status: 404, message: "" };
const bad = (message: string) => ({ status: 400, message });

let h: KvHarness;
beforeEach(() => {
  h = createKvHarness(Date.parse(T0));
});

describe("metadata/<path> read", () => {
  it("shows the version table and settings", async () => {
    await h.write("data/app", { data: { v: "1" } });
    h.advance(60_000);
    await h.write("data/app", { data: { v: "2" } });
    await h.call("delete", "data/app");
    expect(await h.call("read", "metadata/app")).toEqual({
      data: {
        cas_required: false,
        created_time: T0,
        current_version: 2,
        custom_metadata: null,
        delete_version_after: "0s",
        max_versions: 0,
        oldest_version: 0,
        updated_time: "2024-05-01T10:01:00.000Z",
        versions: {
          "1": { created_time: T0, deletion_time: "", destroyed: false },
          "2": { created_time: "2024-05-01T10:01:00.000Z", deletion_time: "2024-05-01T10:01:00.000Z", destroyed: false },
        },
      },
    });
  });

  it("answers 404 with no message for a missing secret", async () => {
    await expect(h.call("read", "metadata/nope")).rejects.toMatchObject(notFound);
  });

  it("refuses a bad path", async () => {
    await expect(h.call("read", "metadata/a/../b")).rejects.toMatchObject(bad('path "a/../b" must not contain "." or ".." segments'));
  });
});

describe("metadata/<path> write", () => {
  it("creates metadata without data and renders durations as Go does", async () => {
    await expect(
      h.write("metadata/app", {
        max_versions: 5,
        cas_required: true,
        delete_version_after: "3h25m19s",
        custom_metadata: { owner: "team-a", tier: "gold" },
      }),
    ).resolves.toBeUndefined();
    expect((await h.call("read", "metadata/app"))?.data).toEqual({
      cas_required: true,
      created_time: T0,
      current_version: 0,
      custom_metadata: { owner: "team-a", tier: "gold" },
      delete_version_after: "3h25m19s",
      max_versions: 5,
      oldest_version: 0,
      updated_time: T0,
      versions: {},
    });
  });

  it("changes only the fields it names, and replaces custom_metadata whole", async () => {
    await h.write("metadata/app", { max_versions: 5, custom_metadata: { a: "1", b: "2" } });
    h.advance(1000);
    await h.write("metadata/app", { cas_required: "true", custom_metadata: { c: "3" } });
    expect((await h.call("read", "metadata/app"))?.data).toMatchObject({
      max_versions: 5,
      cas_required: true,
      custom_metadata: { c: "3" },
      created_time: T0,
      updated_time: "2024-05-01T10:00:01.000Z",
    });
  });

  it("keeps existing versions", async () => {
    await h.write("data/app", { data: { v: "1" } });
    await h.write("metadata/app", { max_versions: 3 });
    expect((await h.call("read", "data/app"))?.data?.data).toEqual({ v: "1" });
  });

  it("validates its fields", async () => {
    await expect(h.write("metadata/app", { max_versions: -1 })).rejects.toMatchObject(bad('field "max_versions" must not be negative'));
    await expect(h.write("metadata/app", { cas_required: "maybe" })).rejects.toMatchObject(bad('field "cas_required" must be a boolean'));
    await expect(h.write("metadata/app", { delete_version_after: "soon" })).rejects.toMatchObject({ status: 400 });
    await expect(h.write("metadata/app", { custom_metadata: "x" })).rejects.toMatchObject(bad('field "custom_metadata" must be an object'));
    await expect(h.write("metadata/app", { custom_metadata: { n: 1 } })).rejects.toMatchObject(
      bad('custom_metadata value of "n" must be a string'),
    );
    await expect(h.write("metadata/app", { custom_metadata: { v: "x".repeat(513) } })).rejects.toMatchObject(
      bad('custom_metadata value of "v" must not be longer than 512 characters'),
    );
    await expect(h.write("metadata/app", { custom_metadata: { ["k".repeat(129)]: "v" } })).rejects.toMatchObject(
      bad("custom_metadata keys must have 1 to 128 characters"),
    );
    const many = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, "v"]));
    await expect(h.write("metadata/app", { custom_metadata: many })).rejects.toMatchObject(
      bad("custom_metadata must not have more than 64 keys"),
    );
    await expect(h.call("read", "metadata/app")).rejects.toMatchObject(notFound);
  });
});

describe("metadata/<path> patch", () => {
  it("merges custom_metadata and keeps unnamed settings", async () => {
    await h.write("metadata/app", { max_versions: 4, custom_metadata: { a: "1", b: "2" } });
    await h.call("patch", "metadata/app", { custom_metadata: { b: null, c: "3" }, cas_required: true });
    expect((await h.call("read", "metadata/app"))?.data).toMatchObject({
      max_versions: 4,
      cas_required: true,
      custom_metadata: { a: "1", c: "3" },
    });
  });

  it("answers 404 for a missing secret", async () => {
    await expect(h.call("patch", "metadata/nope", { max_versions: 1 })).rejects.toMatchObject(notFound);
  });
});

describe("metadata/<path> delete", () => {
  it("removes every version and the metadata for good", async () => {
    for (const v of ["1", "2", "3"]) await h.write("data/app", { data: { v } });
    await h.write("destroy/app", { versions: [1] });
    await h.write("data/app/child", { data: { v: "c" } });
    await expect(h.call("delete", "metadata/app")).resolves.toBeUndefined();
    await expect(h.call("read", "metadata/app")).rejects.toMatchObject(notFound);
    await expect(h.call("read", "data/app", { version: "2" })).rejects.toMatchObject(notFound);
    expect(await h.storage.scan("")).toEqual(["meta/app/child", "ver/app/child/1"]);
    const again = await h.write("data/app", { data: { v: "new" } });
    expect(again?.data?.version).toBe(1);
  });

  it("is a no-op for a missing secret", async () => {
    await expect(h.call("delete", "metadata/nope")).resolves.toBeUndefined();
  });
});

describe("metadata list", () => {
  beforeEach(async () => {
    for (const path of ["app", "app/db", "app/cache", "team/x/y", "zeta"]) await h.write(`data/${path}`, { data: { a: "1" } });
  });

  it("lists the root with folders ending in /", async () => {
    const root = { data: { keys: ["app", "app/", "team/", "zeta"] } };
    expect(await h.call("list", "metadata/")).toEqual(root);
    expect(await h.call("list", "metadata")).toEqual(root);
  });

  it("lists a folder with or without a trailing slash", async () => {
    expect(await h.call("list", "metadata/app/")).toEqual({ data: { keys: ["cache", "db"] } });
    expect(await h.call("list", "metadata/app")).toEqual({ data: { keys: ["cache", "db"] } });
    expect(await h.call("list", "metadata/team/")).toEqual({ data: { keys: ["x/"] } });
  });

  it("still lists secrets whose versions are all deleted or destroyed", async () => {
    await h.call("delete", "data/zeta");
    await h.write("destroy/app/db", { versions: [1] });
    expect((await h.call("list", "metadata"))?.data?.keys).toContain("zeta");
    expect((await h.call("list", "metadata/app/"))?.data?.keys).toContain("db");
  });

  it("answers 404 for an empty or missing folder", async () => {
    await expect(h.call("list", "metadata/nope/")).rejects.toMatchObject(notFound);
    await expect(h.call("list", "metadata/zeta/")).rejects.toMatchObject(notFound);
    const empty = createKvHarness();
    await expect(empty.call("list", "metadata")).rejects.toMatchObject(notFound);
  });

  it("refuses a bad folder path", async () => {
    await expect(h.call("list", "metadata/a/../")).rejects.toMatchObject(bad('path "a/../" must not contain "." or ".." segments'));
  });
});
