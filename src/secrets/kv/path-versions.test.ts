import { beforeEach, describe, expect, it } from "vitest";
import { type KvHarness, createKvHarness } from "./test-harness.js";

const T0 = "2024-05-01T10:00:00.000Z";
const T1 = "2024-05-01T10:00:01.000Z";
const notFound = { status: 404, message: "" };
const bad = (message: string) => ({ status: 400, message });

let h: KvHarness;
beforeEach(async () => {
  h = createKvHarness(Date.parse(T0));
  for (const v of ["1", "2", "3"]) await h.write("data/app", { data: { v } });
  h.advance(1000);
});

const versions = async () => (await h.call("read", "metadata/app"))?.data?.versions;

describe("delete/<path>", () => {
  it("soft-deletes the named versions and keeps their data", async () => {
    await expect(h.write("delete/app", { versions: [1, 3] })).resolves.toBeUndefined();
    expect(await versions()).toEqual({
      "1": { created_time: T0, deletion_time: T1, destroyed: false },
      "2": { created_time: T0, deletion_time: "", destroyed: false },
      "3": { created_time: T0, deletion_time: T1, destroyed: false },
    });
    await expect(h.call("read", "data/app", { version: "1" })).resolves.toMatchObject({ status: 404 });
    expect(await h.storage.list("ver/app/")).toEqual(["1", "2", "3"]);
  });

  it("keeps the first deletion time of an already deleted version", async () => {
    await h.write("delete/app", { versions: [1] });
    h.advance(1000);
    await h.write("delete/app", { versions: "1,2" });
    const table = await versions();
    expect(table).toMatchObject({ "1": { deletion_time: T1 }, "2": { deletion_time: "2024-05-01T10:00:02.000Z" } });
  });

  it("ignores unknown versions and missing secrets", async () => {
    await expect(h.write("delete/app", { versions: [42] })).resolves.toBeUndefined();
    await expect(h.write("delete/nope", { versions: [1] })).resolves.toBeUndefined();
    await expect(h.call("read", "metadata/nope")).rejects.toMatchObject(notFound);
  });
});

describe("undelete/<path>", () => {
  it("restores soft-deleted versions", async () => {
    await h.write("delete/app", { versions: [2, 3] });
    await h.write("undelete/app", { versions: ["3"] });
    expect((await h.call("read", "data/app"))?.data?.data).toEqual({ v: "3" });
    await expect(h.call("read", "data/app", { version: "2" })).resolves.toMatchObject({ status: 404 });
  });

  it("cannot bring back a destroyed version", async () => {
    await h.write("destroy/app", { versions: [3] });
    await h.write("undelete/app", { versions: [3] });
    expect(await h.call("read", "data/app")).toMatchObject({ status: 404, data: { data: null, metadata: { destroyed: true } } });
  });
});

describe("destroy/<path>", () => {
  it("removes the data of the named versions and marks them destroyed", async () => {
    await h.write("destroy/app", { versions: [1, 2] });
    expect(await h.storage.list("ver/app/")).toEqual(["3"]);
    expect(await versions()).toEqual({
      "1": { created_time: T0, deletion_time: "", destroyed: true },
      "2": { created_time: T0, deletion_time: "", destroyed: true },
      "3": { created_time: T0, deletion_time: "", destroyed: false },
    });
    expect((await h.call("read", "data/app"))?.data?.data).toEqual({ v: "3" });
  });

  it("destroys a soft-deleted version too", async () => {
    await h.write("delete/app", { versions: [3] });
    await h.write("destroy/app", { versions: [3] });
    expect(await versions()).toMatchObject({ "3": { deletion_time: T1, destroyed: true } });
    expect(await h.storage.list("ver/app/")).toEqual(["1", "2"]);
  });
});

describe("version lists", () => {
  it.each(["delete", "undelete", "destroy"])("%s refuses a missing or empty list", async (prefix) => {
    await expect(h.write(`${prefix}/app`, {})).rejects.toMatchObject(bad("no version number provided"));
    await expect(h.write(`${prefix}/app`, { versions: [] })).rejects.toMatchObject(bad("no version number provided"));
    await expect(h.write(`${prefix}/app`, { versions: ["x"] })).rejects.toMatchObject(
      bad('field "versions" must be a list of integers'),
    );
  });

  it.each(["delete", "undelete", "destroy"])("%s refuses a bad path", async (prefix) => {
    await expect(h.write(`${prefix}/app/`, { versions: [1] })).rejects.toMatchObject(bad('path "app/" must not end with "/"'));
  });
});
