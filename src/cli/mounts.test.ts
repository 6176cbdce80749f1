import { describe, expect, it } from "vitest";
import { mountEntries } from "./mounts.js";
import { resolveEngine } from "./secrets.js";
import { runLatchkey, useFakeLatchkey } from "./test-support.js";

const mounts = {
  "secret/": { type: "kv", accessor: "kv_1", description: "key/value secret storage", options: { version: "2" } },
  "cubbyhole/": { type: "cubbyhole", accessor: "cubbyhole_1", description: "per-token private secret storage" },
  "sys/": { type: "system", accessor: "system_1", description: "" },
};

describe("auth and secrets", () => {
  const fake = useFakeLatchkey({ token: "lks.root" });

  it("auth enable with -path and -description", async () => {
    fake.server.on("POST", "sys/auth/k8s", { status: 204 });
    const result = await runLatchkey(["auth", "enable", "-path=k8s", "-description=cluster one", "kubernetes"], { env: fake.env });
    expect(result).toEqual({ code: 0, stdout: "Success! Enabled kubernetes auth method at: k8s/\n", stderr: "" });
    expect(fake.server.requests[0].body).toEqual({ type: "kubernetes", description: "cluster one" });
  });

  it("auth enable defaults the path to the type and passes lease TTLs as config", async () => {
    fake.server.on("POST", "sys/auth/kubernetes", { status: 204 });
    await runLatchkey(["auth", "enable", "-default-lease-ttl=1h", "-max-lease-ttl", "24h", "kubernetes"], { env: fake.env });
    expect(fake.server.requests[0].body).toEqual({ type: "kubernetes", config: { default_lease_ttl: "1h", max_lease_ttl: "24h" } });
  });

  it("auth enable shows a conflict", async () => {
    fake.server.on("POST", "sys/auth/kubernetes", { status: 400, body: { errors: ['path is already in use at kubernetes/'] } });
    const result = await runLatchkey(["auth", "enable", "kubernetes"], { env: fake.env });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^Error enabling auth method at kubernetes\/: Error making API request\./);
  });

  it("auth disable", async () => {
    fake.server.on("DELETE", "sys/auth/k8s", { status: 204 });
    expect((await runLatchkey(["auth", "disable", "k8s/"], { env: fake.env })).stdout).toBe(
      "Success! Disabled the auth method (if it existed) at: k8s/\n",
    );
  });

  it("auth list prints a sorted table", async () => {
    fake.server.on("GET", "sys/auth", {
      body: {
        data: {
          "token/": { type: "token", accessor: "auth_token_1", description: "token based credentials" },
          "kubernetes/": { type: "kubernetes", accessor: "auth_kubernetes_1", description: "" },
        },
      },
    });
    expect((await runLatchkey(["auth", "list"], { env: fake.env })).stdout).toBe(
      [
        "Path           Type          Accessor             Description",
        "----           ----          --------             -----------",
        "kubernetes/    kubernetes    auth_kubernetes_1    n/a",
        "token/         token         auth_token_1         token based credentials",
        "",
      ].join("\n"),
    );
  });

  it("secrets enable kv -version=2 and kv-v2 send type kv with options.version 2", async () => {
    fake.server.on("POST", "sys/mounts/kv", { status: 204 });
    fake.server.on("POST", "sys/mounts/kv-v2", { status: 204 });
    fake.server.on("POST", "sys/mounts/team", { status: 204 });
    const first = await runLatchkey(["secrets", "enable", "-version=2", "kv"], { env: fake.env });
    const second = await runLatchkey(["secrets", "enable", "kv-v2"], { env: fake.env });
    await runLatchkey(["secrets", "enable", "-path=team", "-options", "version=2", "-description=team secrets", "kv"], { env: fake.env });
    expect(first.stdout).toBe("Success! Enabled the kv secrets engine at: kv/\n");
    expect(second.stdout).toBe("Success! Enabled the kv-v2 secrets engine at: kv-v2/\n");
    expect(fake.server.requests.map((r) => [r.path, r.body])).toEqual([
      ["sys/mounts/kv", { type: "kv", options: { version: "2" } }],
      ["sys/mounts/kv-v2", { type: "kv", options: { version: "2" } }],
      ["sys/mounts/team", { type: "kv", description: "team secrets", options: { version: "2" } }],
    ]);
  });

  it("secrets disable", async () => {
    fake.server.on("DELETE", "sys/mounts/kv", { status: 204 });
    expect((await runLatchkey(["secrets", "disable", "kv"], { env: fake.env })).stdout).toBe(
      "Success! Disabled the secrets engine (if it existed) at: kv/\n",
    );
  });

  it("secrets list reads mounts from data or the top level; -format=json", async () => {
    fake.server.on("GET", "sys/mounts", { body: { ...mounts, request_id: "r", data: null } });
    const table = await runLatchkey(["secrets", "list"], { env: fake.env });
    expect(table.stdout.split("\n")[2]).toBe("cubbyhole/    cubbyhole    cubbyhole_1    per-token private secret storage");
    expect(table.stdout.split("\n")[4]).toBe("sys/          system       system_1       n/a");
    const json = await runLatchkey(["secrets", "list", "-format=json"], { env: fake.env });
    expect(Object.keys(JSON.parse(json.stdout))).toEqual(["cubbyhole/", "secret/", "sys/"]);
  });
});

describe("mount helpers", () => {
  it("mountEntries prefers data and skips envelope fields", () => {
    expect(mountEntries({ request_id: "x", data: mounts }).map(([path]) => path)).toEqual(["cubbyhole/", "secret/", "sys/"]);
    expect(mountEntries(undefined)).toEqual([]);
  });

  it("resolveEngine", () => {
    expect(resolveEngine("kubernetes", {})).toEqual({ type: "kubernetes" });
    expect(resolveEngine("kv", { version: 1 })).toEqual({ type: "kv", options: { version: "1" } });
    expect(resolveEngine("kv-v2", { options: { max_versions: "5" } })).toEqual({
      type: "kv",
      options: { max_versions: "5", version: "2" },
    });
  });
});
