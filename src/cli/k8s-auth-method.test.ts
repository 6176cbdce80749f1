import { describe, expect, it } from "vitest";
import { runLatchkey, startFakeServer, useFakeLatchkey } from "./test-support.js";

const created = { data: { access_id: "p-abcdefg1234", prv_key: "LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tCg==" } };

describe("auth-method create k8s", () => {
  const fake = useFakeLatchkey({ token: "lks.admin" });

  it("creates the role with its access id and prints the reference's JSON", async () => {
    fake.server.on("POST", "auth/kubernetes/access-id", { body: created });
    const result = await runLatchkey(
      [
        "auth-method", "create", "k8s", "-n", "my-k8s-auth-method",
        "--bound-pod-names", "mypod1", "--bound-pod-names", "mypod2",
        "--bound-namespaces", "my-namespace-a", "--bound-sa-names", "app",
        "--audience", "latchkey", "--policies", "read-app", "--json",
      ],
      { env: fake.env },
    );
    expect(result).toEqual({
      code: 0,
      stdout: '{\n  "access_id": "p-abcdefg1234",\n  "prv_key": "LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tCg=="\n}\n',
      stderr: "",
    });
    expect(fake.server.requests).toHaveLength(1);
    const [request] = fake.server.requests;
    expect(request.headers["x-vault-token"]).toBe("lks.admin");
    expect(request.body).toEqual({
      name: "my-k8s-auth-method",
      bound_pod_names: ["mypod1", "mypod2"],
      bound_service_account_namespaces: ["my-namespace-a"],
      bound_service_account_names: ["app"],
      audience: ["latchkey"],
      token_policies: ["read-app"],
    });
  });

  it("leaves the service account names to the server (any) and takes single-dash and comma forms", async () => {
    fake.server.on("POST", "auth/k8s/access-id", { body: created });
    const result = await runLatchkey(
      ["auth-method", "create", "k8s", "-name=/web", "-bound-pod-names=web-0,web-1", "-bound-namespaces", "*", "-mount=k8s", "-key-type=rsa", "-token-ttl=20m", "-bound-ips=10.0.0.0/8", "-json"],
      { env: fake.env },
    );
    expect(result.code).toBe(0);
    expect(fake.server.requests[0].body).toEqual({
      name: "web",
      bound_pod_names: ["web-0", "web-1"],
      bound_service_account_namespaces: ["*"],
      key_type: "rsa",
      token_ttl: "20m",
      token_bound_cidrs: ["10.0.0.0/8"],
    });
  });

  it("prints a table and a reminder that the key is shown once, without --json", async () => {
    fake.server.on("POST", "auth/kubernetes/access-id", { body: created });
    const result = await runLatchkey(["auth-method", "create", "k8s", "-n", "m", "--bound-namespace-selector", '{"matchLabels":{"team":"a"}}'], {
      env: fake.env,
    });
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(
      "Key          Value\n---          -----\naccess_id    p-abcdefg1234\nprv_key      LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tCg==\n",
    );
    expect(result.stderr).toContain("shown only this once");
    expect(fake.server.requests[0].body).toEqual({
      name: "m",
      bound_service_account_namespace_selector: '{"matchLabels":{"team":"a"}}',
    });
  });

  it("needs a name and a namespace binding", async () => {
    const noName = await runLatchkey(["auth-method", "create", "k8s", "--bound-namespaces", "a"], { env: fake.env });
    expect(noName.code).toBe(2);
    expect(noName.stderr).toContain("required option '-n, --name <name>' not specified");
    const noNamespace = await runLatchkey(["auth-method", "create", "k8s", "-n", "m"], { env: fake.env });
    expect(noNamespace).toEqual({
      code: 2,
      stdout: "",
      stderr: 'Give --bound-namespaces (names, globs, or "*" for any) or --bound-namespace-selector\n',
    });
    expect(fake.server.requests).toHaveLength(0);
  });

  it("prints the server's message and exits 1 when it refuses", async () => {
    fake.server.on("POST", "auth/kubernetes/access-id", { status: 400, body: { errors: ['role "m" already exists'] } });
    const result = await runLatchkey(["auth-method", "create", "k8s", "-n", "m", "--bound-namespaces", "a"], { env: fake.env });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^Error creating auth method m: Error making API request\./);
    expect(result.stderr).toContain('* role "m" already exists');
  });

  it("--gateway-url overrides LATCHKEY_ADDR", async () => {
    const gateway = await startFakeServer();
    try {
      gateway.on("POST", "auth/kubernetes/access-id", { body: created });
      const result = await runLatchkey(
        ["auth-method", "create", "k8s", "-n", "m", "--bound-namespaces", "a", "--gateway-url", `${gateway.address}/`],
        { env: fake.env },
      );
      expect(result.code).toBe(0);
      expect(gateway.requests).toHaveLength(1);
      expect(fake.server.requests).toHaveLength(0);
    } finally {
      await gateway.close();
    }
  });
});

describe("auth-method get, list, delete", () => {
  const fake = useFakeLatchkey({ token: "lks.admin" });

  it("get shows the role", async () => {
    fake.server.on("GET", "auth/kubernetes/role/m", {
      body: { data: { bound_pod_names: ["mypod1"], token_policies: ["p"], token_ttl: 1200, access_id: "p-1" } },
    });
    const table = await runLatchkey(["auth-method", "get", "-n", "m"], { env: fake.env });
    expect(table.code).toBe(0);
    expect(table.stdout).toBe(
      "Key                Value\n" +
        "---                -----\n" +
        "access_id          p-1\n" +
        "bound_pod_names    [mypod1]\n" +
        "token_policies     [p]\n" +
        "token_ttl          20m\n",
    );
    const json = await runLatchkey(["auth-method", "get", "-n", "m", "-json"], { env: fake.env });
    expect(JSON.parse(json.stdout)).toEqual({ bound_pod_names: ["mypod1"], token_policies: ["p"], token_ttl: 1200, access_id: "p-1" });
    const missing = await runLatchkey(["auth-method", "get", "-n", "none"], { env: fake.env });
    expect(missing).toEqual({ code: 2, stdout: "", stderr: "No value found at auth/kubernetes/role/none\n" });
  });

  it("list names each access id's role", async () => {
    fake.server.on("GET", "auth/kubernetes/access-id", { body: { data: { keys: ["p-1", "p-2"] } } });
    fake.server.on("GET", "auth/kubernetes/access-id/p-1", {
      body: { data: { access_id: "p-1", role: "web", key_type: "ec", created_time: "2025-01-01T00:00:00.000Z" } },
    });
    fake.server.on("GET", "auth/kubernetes/access-id/p-2", {
      body: { data: { access_id: "p-2", role: "api", key_type: "rsa", created_time: "2025-01-02T00:00:00.000Z" } },
    });
    const table = await runLatchkey(["auth-method", "list"], { env: fake.env });
    expect(table).toEqual({
      code: 0,
      stdout:
        "Name    Access ID    Key Type    Created\n" +
        "----    ---------    --------    -------\n" +
        "web     p-1          ec          2025-01-01T00:00:00.000Z\n" +
        "api     p-2          rsa         2025-01-02T00:00:00.000Z\n",
      stderr: "",
    });
    expect(fake.server.requests[0].query.get("list")).toBe("true");
    const json = await runLatchkey(["auth-method", "list", "--json"], { env: fake.env });
    expect(JSON.parse(json.stdout)).toEqual([
      { name: "web", access_id: "p-1", key_type: "ec", created_time: "2025-01-01T00:00:00.000Z" },
      { name: "api", access_id: "p-2", key_type: "rsa", created_time: "2025-01-02T00:00:00.000Z" },
    ]);
  });

  it("list of nothing exits 2", async () => {
    const result = await runLatchkey(["auth-method", "list"], { env: fake.env });
    expect(result).toEqual({ code: 2, stdout: "", stderr: "No value found at auth/kubernetes/access-id\n" });
  });

  it("delete removes the role (and with it the access id); the server's refusal is printed", async () => {
    fake.server.on("DELETE", "auth/kubernetes/role/m", {});
    const ok = await runLatchkey(["auth-method", "delete", "-n", "m"], { env: fake.env });
    expect(ok).toEqual({ code: 0, stdout: "Success! Deleted auth method (if it existed): m\n", stderr: "" });
    fake.server.on("DELETE", "auth/kubernetes/role/m", {
      status: 400,
      body: { errors: ['access id "p-1" is used by config "k8s-conf"; delete that first'] },
    });
    const refused = await runLatchkey(["auth-method", "delete", "--name", "m"], { env: fake.env });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('* access id "p-1" is used by config "k8s-conf"; delete that first');
  });
});
