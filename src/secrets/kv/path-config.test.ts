import { beforeEach, describe, expect, it } from "vitest";
import { type KvHarness, createKvHarness } from "./test-harness.js";

const bad = (message: string) => ({ status: 400, message });

let h: KvHarness;
beforeEach(() => {
  h = createKvHarness();
});

describe("config", () => {
  it("reads Vault's defaults before anything is written", async () => {
    expect(await h.call("read", "config")).toEqual({
      data: { cas_required: false, delete_version_after: "0s", max_versions: 0 },
    });
  });

  it("updates only the fields named", async () => {
    await expect(h.write("config", { max_versions: 5, delete_version_after: "3h25m19s" })).resolves.toBeUndefined();
    await h.write("config", { cas_required: true });
    expect(await h.call("read", "config")).toEqual({
      data: { cas_required: true, delete_version_after: "3h25m19s", max_versions: 5 },
    });
    await h.write("config", { delete_version_after: "0s", max_versions: "0" });
    expect((await h.call("read", "config"))?.data).toMatchObject({ delete_version_after: "0s", max_versions: 0 });
  });

  it("validates its fields", async () => {
    await expect(h.write("config", { max_versions: -3 })).rejects.toMatchObject(bad('field "max_versions" must not be negative'));
    await expect(h.write("config", { cas_required: "sometimes" })).rejects.toMatchObject(bad('field "cas_required" must be a boolean'));
    for (const value of ["-1h", "1 hour"]) {
      await expect(h.write("config", { delete_version_after: value })).rejects.toMatchObject(
        bad('field "delete_version_after" must be a duration such as "30s", "5m", "1h" or a number of seconds'),
      );
    }
  });
});
