import { describe, expect, it } from "vitest";
import { kvApiPath, splitMount } from "./kv.js";
import { runLatchkey, useFakeLatchkey } from "./test-support.js";

const metadata = {
  created_time: "2024-01-01T00:00:00Z",
  custom_metadata: null,
  deletion_time: "",
  destroyed: false,
  version: 2,
};
const secret = { request_id: "r", lease_id: "", lease_duration: 0, renewable: false, data: { data: { passcode: "hunter2" }, metadata }, warnings: null };

describe("kv", () => {
  const fake = useFakeLatchkey({ token: "lks.root" });

  const apiRequests = () => fake.server.requests.filter((r) => !r.path.startsWith("sys/internal/ui/mounts/"));

  it("put writes {data} under <mount>/data/ and prints the path and metadata", async () => {
    fake.server.on("PUT", "secret/data/creds", { body: { data: metadata } });
    const result = await runLatchkey(["kv", "put", "secret/creds", "passcode=hunter2"], { env: fake.env });
    expect(result.code).toBe(0);
    expect(apiRequests()[0].body).toEqual({ data: { passcode: "hunter2" } });
    expect(result.stdout).toBe(
      [
        "== Secret Path ==",
        "secret/data/creds",
        "",
        "======= Metadata =======",
        "Key                Value",
        "---                -----",
        "created_time       2024-01-01T00:00:00Z",
        "custom_metadata    <nil>",
        "deletion_time      n/a",
        "destroyed          false",
        "version            2",
        "",
      ].join("\n"),
    );
  });

  it("put -mount and -cas", async () => {
    fake.server.on("PUT", "team/data/app/db", { body: { data: metadata } });
    await runLatchkey(["kv", "put", "-mount=team", "-cas=1", "app/db", "user=a"], { env: fake.env });
    expect(apiRequests()[0].body).toEqual({ data: { user: "a" }, options: { cas: 1 } });
  });

  it("put needs data", async () => {
    expect(await runLatchkey(["kv", "put", "secret/creds"], { env: fake.env })).toEqual({ code: 2, stdout: "", stderr: "Must supply data\n" });
  });

  it("uses the mount the server reports (longest prefix) and its KV version", async () => {
    fake.server.on("GET", "sys/internal/ui/mounts/team/eu/app", {
      body: { data: { path: "team/eu/", type: "kv", options: { version: "2" } } },
    });
    fake.server.on("GET", "team/eu/data/app", { body: secret });
    const result = await runLatchkey(["kv", "get", "-field=passcode", "team/eu/app"], { env: fake.env });
    expect(result).toEqual({ code: 0, stdout: "hunter2", stderr: "" });
  });

  it("talks to a KV version 1 mount without data/ and metadata", async () => {
    fake.server.on("GET", "sys/internal/ui/mounts/old/app", { body: { data: { path: "old/", type: "kv", options: null } } });
    fake.server.on("PUT", "old/app", { status: 204 });
    fake.server.on("GET", "old/app", { body: { data: { passcode: "v1" } } });
    const put = await runLatchkey(["kv", "put", "old/app", "passcode=v1"], { env: fake.env });
    expect(put.stdout).toBe("Success! Data written to: old/app\n");
    expect(apiRequests()[0].body).toEqual({ passcode: "v1" });
    const get = await runLatchkey(["kv", "get", "old/app"], { env: fake.env });
    expect(get.stdout).toBe("====== Data ======\nKey         Value\n---         -----\npasscode    v1\n");
    const meta = await runLatchkey(["kv", "metadata", "get", "old/app"], { env: fake.env });
    expect(meta.code).toBe(2);
  });

  it("get prints path, metadata and data sections", async () => {
    fake.server.on("GET", "secret/data/creds", { body: secret });
    const result = await runLatchkey(["kv", "get", "secret/creds"], { env: fake.env });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("== Secret Path ==\nsecret/data/creds\n\n======= Metadata =======\n");
    expect(result.stdout).toContain("\n====== Data ======\nKey         Value\n---         -----\npasscode    hunter2\n");
  });

  it("get -version, -format=json", async () => {
    fake.server.on("GET", "secret/data/creds", { body: secret });
    const result = await runLatchkey(["kv", "get", "-version=1", "-format=json", "secret/creds"], { env: fake.env });
    expect(apiRequests()[0].query.get("version")).toBe("1");
    expect(JSON.parse(result.stdout)).toEqual(secret);
  });

  it("get -field looks only in the secret's data", async () => {
    fake.server.on("GET", "secret/data/creds", { body: secret });
    const result = await runLatchkey(["kv", "get", "-field=version", "secret/creds"], { env: fake.env });
    expect(result).toEqual({ code: 1, stdout: "", stderr: 'Field "version" not present in secret\n' });
  });

  it("get of a missing secret exits 2; of a deleted version shows metadata and exits 2", async () => {
    expect(await runLatchkey(["kv", "get", "secret/none"], { env: fake.env })).toEqual({
      code: 2,
      stdout: "",
      stderr: "No value found at secret/data/none\n",
    });
    fake.server.on("GET", "secret/data/gone", { body: { data: { data: null, metadata: { ...metadata, deletion_time: "2024-02-01T00:00:00Z" } } } });
    const gone = await runLatchkey(["kv", "get", "secret/gone"], { env: fake.env });
    expect(gone.code).toBe(2);
    expect(gone.stdout).toContain("deletion_time      2024-02-01T00:00:00Z");
    expect(gone.stdout).not.toContain("Data ====");
  });

  it("delete removes the latest version, or the given -versions", async () => {
    fake.server.on("DELETE", "secret/data/creds", { status: 204 });
    fake.server.on("PUT", "secret/delete/creds", { status: 204 });
    const latest = await runLatchkey(["kv", "delete", "secret/creds"], { env: fake.env });
    const some = await runLatchkey(["kv", "delete", "-versions=1,2", "secret/creds"], { env: fake.env });
    expect(latest.stdout).toBe("Success! Data deleted (if it existed) at: secret/data/creds\n");
    expect(some.stdout).toBe("Success! Data deleted (if it existed) at: secret/delete/creds\n");
    expect(apiRequests()[1].body).toEqual({ versions: [1, 2] });
  });

  it("undelete and destroy need -versions", async () => {
    fake.server.on("PUT", "secret/undelete/creds", { status: 204 });
    fake.server.on("PUT", "secret/destroy/creds", { status: 204 });
    expect((await runLatchkey(["kv", "undelete", "-versions=2", "secret/creds"], { env: fake.env })).stdout).toBe(
      "Success! Data written to: secret/undelete/creds\n",
    );
    await runLatchkey(["kv", "destroy", "-versions", "1", "secret/creds"], { env: fake.env });
    expect(apiRequests().map((r) => [r.path, r.body])).toEqual([
      ["secret/undelete/creds", { versions: [2] }],
      ["secret/destroy/creds", { versions: [1] }],
    ]);
    expect((await runLatchkey(["kv", "destroy", "secret/creds"], { env: fake.env })).code).toBe(2);
  });

  it("list lists metadata keys", async () => {
    fake.server.on("GET", "secret/metadata/team", { body: { data: { keys: ["app", "db/"] } } });
    expect(await runLatchkey(["kv", "list", "secret/team"], { env: fake.env })).toEqual({ code: 0, stdout: "Keys\n----\napp\ndb/\n", stderr: "" });
    fake.server.on("GET", "secret/metadata", { body: { data: { keys: ["team/"] } } });
    expect((await runLatchkey(["kv", "list", "secret"], { env: fake.env })).stdout).toBe("Keys\n----\nteam/\n");
  });

  it("metadata get prints the summary and each version", async () => {
    fake.server.on("GET", "secret/metadata/creds", {
      body: {
        data: {
          cas_required: false,
          current_version: 2,
          delete_version_after: "0s",
          max_versions: 0,
          versions: {
            "10": { created_time: "t10", deletion_time: "", destroyed: false },
            "2": { created_time: "t2", deletion_time: "", destroyed: true },
          },
        },
      },
    });
    const result = await runLatchkey(["kv", "metadata", "get", "secret/creds"], { env: fake.env });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("=== Metadata Path ===\nsecret/metadata/creds\n\n========== Metadata ==========\n");
    expect(result.stdout).toContain("delete_version_after    0s\n");
    expect(result.stdout).not.toMatch(/^versions /m);
    expect(result.stdout.indexOf("Version 2 ")).toBeLessThan(result.stdout.indexOf("Version 10 "));
    expect(result.stdout).toContain("====== Version 2 ======\nKey              Value\n");
  });

  it("metadata delete", async () => {
    fake.server.on("DELETE", "secret/metadata/creds", { status: 204 });
    expect((await runLatchkey(["kv", "metadata", "delete", "secret/creds"], { env: fake.env })).stdout).toBe(
      "Success! Data deleted (if it existed) at: secret/metadata/creds\n",
    );
  });

  it("errors name the API path", async () => {
    fake.server.on("GET", "secret/data/creds", { status: 403, body: { errors: ["permission denied"] } });
    const result = await runLatchkey(["kv", "get", "secret/creds"], { env: fake.env });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^Error reading secret\/data\/creds: Error making API request\./);
  });
});

describe("kv paths", () => {
  it("splitMount takes the first segment", () => {
    expect(splitMount("secret/a/b")).toEqual({ mount: "secret", path: "a/b" });
    expect(splitMount("secret")).toEqual({ mount: "secret", path: "" });
  });

  it("kvApiPath inserts the section for version 2 only", () => {
    expect(kvApiPath({ mount: "secret", path: "a", v2: true }, "metadata")).toBe("secret/metadata/a");
    expect(kvApiPath({ mount: "secret", path: "", v2: true }, "metadata")).toBe("secret/metadata");
    expect(kvApiPath({ mount: "old", path: "a", v2: false }, "data")).toBe("old/a");
  });
});
