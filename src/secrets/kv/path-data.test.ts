import { beforeEach, describe, expect, it } from "vitest";
import { type KvHarness, createKvHarness } from "./test-harness.js";

const T0 = "2024-05-01T10:00:00.000Z";
const notFound = { status: 404, message: "" };
const bad = (message: string) => ({ status: 400, message });

let h: KvHarness;
beforeEach(() => {
  h = createKvHarness(Date.parse(T0));
});

describe("data/<path> write", () => {
  it("creates version 1 and answers with its metadata", async () => {
    const res = await h.write("data/app/db", { data: { user: "app", pass: "s3cret" } });
    expect(res).toEqual({
      data: { created_time: T0, custom_metadata: null, deletion_time: "", destroyed: false, version: 1 },
    });
  });

  it("adds a version per write and reads the latest", async () => {
    await h.write("data/app", { data: { v: "1" } });
    h.advance(1000);
    const second = await h.write("data/app", { data: { v: "2" } });
    expect(second?.data?.version).toBe(2);
    expect(await h.call("read", "data/app")).toEqual({
      data: {
        data: { v: "2" },
        metadata: {
          created_time: "2024-05-01T10:00:01.000Z",
          custom_metadata: null,
          deletion_time: "",
          destroyed: false,
          version: 2,
        },
      },
    });
  });

  it("keeps nested JSON values as written", async () => {
    const data = { n: 5, ok: true, list: ["a"], nested: { k: "v" } };
    await h.write("data/json", { data });
    expect((await h.call("read", "data/json"))?.data?.data).toEqual(data);
  });

  it("refuses a body without data", async () => {
    await expect(h.write("data/app", {})).rejects.toMatchObject(bad("no data provided"));
    await expect(h.write("data/app", { data: null })).rejects.toMatchObject(bad("no data provided"));
  });

  it("refuses data that is not a JSON object", async () => {
    for (const data of ["text", 5, ["a"], true]) {
      await expect(h.write("data/app", { data })).rejects.toMatchObject(bad('field "data" must be an object'));
    }
  });

  it("refuses bad paths", async () => {
    await expect(h.write("data/app/", { data: {} })).rejects.toMatchObject(bad('path "app/" must not end with "/"'));
    await expect(h.write("data/a/../b", { data: {} })).rejects.toMatchObject(
      bad('path "a/../b" must not contain "." or ".." segments'),
    );
    await expect(h.write("data/a//b", { data: {} })).rejects.toMatchObject(bad('path "a//b" must not contain an empty segment'));
  });

  it("refuses options that are not an object, and a bad cas", async () => {
    await expect(h.write("data/app", { data: {}, options: "x" })).rejects.toMatchObject(bad('field "options" must be an object'));
    await expect(h.write("data/app", { data: {}, options: { cas: "one" } })).rejects.toMatchObject(
      bad('field "cas" must be an integer'),
    );
  });
});

describe("check-and-set", () => {
  it("cas 0 writes only a new secret", async () => {
    await expect(h.write("data/app", { data: { a: "1" }, options: { cas: 0 } })).resolves.toMatchObject({ data: { version: 1 } });
    await expect(h.write("data/app", { data: { a: "2" }, options: { cas: 0 } })).rejects.toMatchObject(
      bad("check-and-set parameter did not match the current version"),
    );
  });

  it("cas N writes only over version N", async () => {
    await h.write("data/app", { data: { a: "1" } });
    await h.write("data/app", { data: { a: "2" } });
    await expect(h.write("data/app", { data: { a: "x" }, options: { cas: 1 } })).rejects.toMatchObject(
      bad("check-and-set parameter did not match the current version"),
    );
    await expect(h.write("data/app", { data: { a: "3" }, options: { cas: 2 } })).resolves.toMatchObject({ data: { version: 3 } });
  });

  it("a refused write changes nothing", async () => {
    await h.write("data/app", { data: { a: "1" } });
    await expect(h.write("data/app", { data: { a: "x" }, options: { cas: 5 } })).rejects.toThrow();
    expect((await h.call("read", "data/app"))?.data).toMatchObject({ data: { a: "1" }, metadata: { version: 1 } });
    expect(await h.storage.list("ver/app/")).toEqual(["1"]);
  });

  it("cas_required on the mount demands cas", async () => {
    await h.write("config", { cas_required: true });
    await expect(h.write("data/app", { data: { a: "1" } })).rejects.toMatchObject(
      bad("check-and-set parameter required for this call"),
    );
    await expect(h.write("data/app", { data: { a: "1" }, options: { cas: 0 } })).resolves.toBeDefined();
  });

  it("cas_required on the secret demands cas", async () => {
    await h.write("metadata/app", { cas_required: true });
    await expect(h.write("data/app", { data: { a: "1" } })).rejects.toMatchObject(
      bad("check-and-set parameter required for this call"),
    );
    await expect(h.write("data/other", { data: { a: "1" } })).resolves.toBeDefined();
  });
});

describe("data/<path> read", () => {
  beforeEach(async () => {
    for (const v of ["1", "2", "3"]) await h.write("data/app", { data: { v } });
  });

  it("reads a chosen version, from JSON or the query string", async () => {
    expect((await h.call("read", "data/app", { version: "2" }))?.data).toMatchObject({ data: { v: "2" }, metadata: { version: 2 } });
    expect((await h.call("read", "data/app", { version: 1 }))?.data).toMatchObject({ data: { v: "1" }, metadata: { version: 1 } });
    expect((await h.call("read", "data/app", { version: "0" }))?.data).toMatchObject({ metadata: { version: 3 } });
  });

  it("answers 404 with no message for a missing secret or version", async () => {
    await expect(h.call("read", "data/nope")).rejects.toMatchObject(notFound);
    await expect(h.call("read", "data/app", { version: "9" })).rejects.toMatchObject(notFound);
  });

  it("answers 404 for a secret that has metadata but no versions", async () => {
    await h.write("metadata/empty", { max_versions: 2 });
    await expect(h.call("read", "data/empty")).rejects.toMatchObject(notFound);
  });

  it("refuses a bad version", async () => {
    await expect(h.call("read", "data/app", { version: "latest" })).rejects.toMatchObject(bad('field "version" must be an integer'));
    await expect(h.call("read", "data/app", { version: "-1" })).rejects.toMatchObject(bad('field "version" must not be negative'));
  });

  it("shows a deleted version's metadata with status 404 and null data", async () => {
    h.advance(5000);
    await h.call("delete", "data/app");
    expect(await h.call("read", "data/app")).toEqual({
      status: 404,
      data: {
        data: null,
        metadata: {
          created_time: T0,
          custom_metadata: null,
          deletion_time: "2024-05-01T10:00:05.000Z",
          destroyed: false,
          version: 3,
        },
      },
    });
    expect((await h.call("read", "data/app", { version: "2" }))?.data?.data).toEqual({ v: "2" });
  });

  it("shows a destroyed version the same way", async () => {
    await h.write("destroy/app", { versions: [1] });
    expect(await h.call("read", "data/app", { version: "1" })).toEqual({
      status: 404,
      data: { data: null, metadata: { created_time: T0, custom_metadata: null, deletion_time: "", destroyed: true, version: 1 } },
    });
  });

  it("includes the secret's custom metadata", async () => {
    await h.write("metadata/app", { custom_metadata: { owner: "team-a" } });
    expect((await h.call("read", "data/app"))?.data?.metadata).toMatchObject({ custom_metadata: { owner: "team-a" } });
  });
});

describe("data/<path> delete", () => {
  it("soft-deletes only the latest version, once", async () => {
    await h.write("data/app", { data: { v: "1" } });
    await h.write("data/app", { data: { v: "2" } });
    h.advance(1000);
    await expect(h.call("delete", "data/app")).resolves.toBeUndefined();
    h.advance(1000);
    await h.call("delete", "data/app");
    const meta = await h.call("read", "metadata/app");
    expect(meta?.data?.versions).toEqual({
      "1": { created_time: T0, deletion_time: "", destroyed: false },
      "2": { created_time: T0, deletion_time: "2024-05-01T10:00:01.000Z", destroyed: false },
    });
    expect(await h.storage.list("ver/app/")).toEqual(["1", "2"]);
  });

  it("is a no-op for a missing secret", async () => {
    await expect(h.call("delete", "data/nope")).resolves.toBeUndefined();
    expect(await h.storage.list("")).toEqual([]);
  });

  it("a new write after a delete is readable again", async () => {
    await h.write("data/app", { data: { v: "1" } });
    await h.call("delete", "data/app");
    await h.write("data/app", { data: { v: "2" } });
    expect((await h.call("read", "data/app"))?.data).toMatchObject({ data: { v: "2" }, metadata: { version: 2 } });
  });
});

describe("data/<path> patch", () => {
  it("merges into the latest version as a new version", async () => {
    await h.write("data/app", { data: { user: "app", pass: "old", port: 1 } });
    const res = await h.call("patch", "data/app", { data: { pass: "new", port: null, host: "db" } });
    expect(res?.data).toMatchObject({ version: 2, destroyed: false, deletion_time: "" });
    expect((await h.call("read", "data/app"))?.data?.data).toEqual({ user: "app", pass: "new", host: "db" });
    expect((await h.call("read", "data/app", { version: "1" }))?.data?.data).toEqual({ user: "app", pass: "old", port: 1 });
  });

  it("answers 404 for a missing secret or a deleted latest version", async () => {
    await expect(h.call("patch", "data/nope", { data: { a: "1" } })).rejects.toMatchObject(notFound);
    await h.write("data/app", { data: { a: "1" } });
    await h.call("delete", "data/app");
    await expect(h.call("patch", "data/app", { data: { a: "2" } })).rejects.toMatchObject(notFound);
  });

  it("honours cas", async () => {
    await h.write("data/app", { data: { a: "1" } });
    await expect(h.call("patch", "data/app", { data: { a: "2" }, options: { cas: 0 } })).rejects.toMatchObject(
      bad("check-and-set parameter did not match the current version"),
    );
    await expect(h.call("patch", "data/app", { data: { a: "2" }, options: { cas: 1 } })).resolves.toMatchObject({
      data: { version: 2 },
    });
  });

  it("refuses a patch without data", async () => {
    await h.write("data/app", { data: { a: "1" } });
    await expect(h.call("patch", "data/app", {})).rejects.toMatchObject(bad("no data provided"));
    await expect(h.call("patch", "data/app", { data: [1] })).rejects.toMatchObject(bad('field "data" must be an object'));
  });
});

describe("max_versions", () => {
  it("keeps 10 versions by default, dropping the oldest data and metadata", async () => {
    for (let i = 1; i <= 12; i++) await h.write("data/app", { data: { i } });
    const meta = (await h.call("read", "metadata/app"))?.data;
    expect(Object.keys(meta?.versions ?? {})).toEqual(["3", "4", "5", "6", "7", "8", "9", "10", "11", "12"]);
    expect(meta).toMatchObject({ current_version: 12, oldest_version: 3 });
    expect((await h.storage.list("ver/app/")).sort((a, b) => Number(a) - Number(b))).toEqual(
      ["3", "4", "5", "6", "7", "8", "9", "10", "11", "12"],
    );
    await expect(h.call("read", "data/app", { version: "2" })).rejects.toMatchObject(notFound);
  });

  it("reports oldest_version 0 until a version has been trimmed, as Vault does", async () => {
    await h.write("data/app", { data: { a: "1" } });
    await h.write("data/app", { data: { a: "2" } });
    expect((await h.call("read", "metadata/app"))?.data?.oldest_version).toBe(0);
  });

  it("uses the mount's max_versions, and the secret's over it", async () => {
    await h.write("config", { max_versions: 3 });
    for (let i = 1; i <= 5; i++) await h.write("data/a", { data: { i } });
    expect(await h.storage.list("ver/a/")).toEqual(["3", "4", "5"]);

    await h.write("metadata/b", { max_versions: 2 });
    for (let i = 1; i <= 5; i++) await h.write("data/b", { data: { i } });
    expect(await h.storage.list("ver/b/")).toEqual(["4", "5"]);
    expect((await h.call("read", "metadata/b"))?.data).toMatchObject({ oldest_version: 4, max_versions: 2 });
  });

  it("trims at the next write after max_versions is lowered", async () => {
    for (let i = 1; i <= 4; i++) await h.write("data/app", { data: { i } });
    await h.write("metadata/app", { max_versions: 1 });
    expect(await h.storage.list("ver/app/")).toHaveLength(4);
    await h.write("data/app", { data: { i: 5 } });
    expect(await h.storage.list("ver/app/")).toEqual(["5"]);
  });
});

describe("delete_version_after", () => {
  it("schedules the deletion of each new version", async () => {
    await h.write("config", { delete_version_after: "1h" });
    const res = await h.write("data/app", { data: { a: "1" } });
    expect(res?.data?.deletion_time).toBe("2024-05-01T11:00:00.000Z");
    expect((await h.call("read", "data/app"))?.data?.data).toEqual({ a: "1" });
    h.advance(3600 * 1000);
    expect(await h.call("read", "data/app")).toMatchObject({ status: 404, data: { data: null } });
  });

  it("takes the shorter of the secret's and the mount's", async () => {
    await h.write("config", { delete_version_after: "1h" });
    await h.write("metadata/short", { delete_version_after: "10m" });
    await h.write("metadata/long", { delete_version_after: "2h" });
    expect((await h.write("data/short", { data: { a: "1" } }))?.data?.deletion_time).toBe("2024-05-01T10:10:00.000Z");
    expect((await h.write("data/long", { data: { a: "1" } }))?.data?.deletion_time).toBe("2024-05-01T11:00:00.000Z");
  });

  it("a scheduled version can be undeleted before or after its time", async () => {
    await h.write("metadata/app", { delete_version_after: "1s" });
    await h.write("data/app", { data: { a: "1" } });
    h.advance(2000);
    await h.write("undelete/app", { versions: [1] });
    expect((await h.call("read", "data/app"))?.data?.data).toEqual({ a: "1" });
  });
});
