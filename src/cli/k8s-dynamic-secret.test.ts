import { readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { execCredentialVersion } from "./k8s-dynamic-secret.js";
import { runLatchkey, useFakeLatchkey } from "./test-support.js";

const CA = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==";
const CA_PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----";
const posted = (fake: ReturnType<typeof useFakeLatchkey>) => fake.server.requests.filter((r) => r.method === "POST");

describe("target create k8s", () => {
  const fake = useFakeLatchkey({ token: "lks.admin" });
  const base = ["target", "create", "k8s", "--name", "prod"];

  it("writes a bearer-token target to <mount>/targets/<name>", async () => {
    fake.server.on("POST", "kubernetes/targets/prod", {});
    const result = await runLatchkey(
      [...base, "--k8s-cluster-endpoint", "https://10.0.0.1:6443", "--k8s-cluster-ca-cert", CA, "--k8s-cluster-token", "eyJa.eyJb.c"],
      { env: fake.env },
    );
    expect(result).toEqual({ code: 0, stdout: "Success! Created target prod at kubernetes/targets/prod\n", stderr: "" });
    expect(fake.server.requests.map((r) => `${r.method} ${r.path}`)).toEqual(["GET kubernetes/targets/prod", "POST kubernetes/targets/prod"]);
    expect(fake.server.requests[1].headers["x-vault-token"]).toBe("lks.admin");
    expect(fake.server.requests[1].body).toEqual({
      kubernetes_host: "https://10.0.0.1:6443",
      kubernetes_ca_cert: CA,
      service_account_jwt: "eyJa.eyJb.c",
    });
  });

  it("--use-gw-service-account needs no endpoint; --mount and --json", async () => {
    fake.server.on("POST", "k8s/targets/prod", {});
    const result = await runLatchkey([...base, "--use-gw-service-account", "--mount", "/k8s/", "--json"], { env: fake.env });
    expect(result).toEqual({ code: 0, stdout: '{\n  "name": "prod",\n  "path": "k8s/targets/prod"\n}\n', stderr: "" });
    expect(posted(fake)[0].body).toEqual({ use_gateway_service_account: true });
  });

  it("takes a client certificate and key from @files", async () => {
    fake.server.on("POST", "kubernetes/targets/prod", {});
    await writeFile(join(fake.home, "client.pem"), `${CA_PEM}\n`);
    await writeFile(join(fake.home, "client.key"), "S0VZ\n");
    const result = await runLatchkey(
      [
        ...base, "--k8s-cluster-endpoint", "https://h:6443", "--k8s-client-certificate", `@${join(fake.home, "client.pem")}`,
        "--k8s-client-key", `@${join(fake.home, "client.key")}`,
      ],
      { env: fake.env },
    );
    expect(result.code).toBe(0);
    expect(posted(fake)[0].body).toEqual({ kubernetes_host: "https://h:6443", client_cert: CA_PEM, client_key: "S0VZ" });
  });

  it.each([
    [[], "Give one credential: --k8s-cluster-token, --use-gw-service-account, or --k8s-client-certificate with --k8s-client-key"],
    [
      ["--use-gw-service-account", "--k8s-cluster-token", "a.b.c"],
      "Give one credential: --k8s-cluster-token, --use-gw-service-account, or --k8s-client-certificate with --k8s-client-key",
    ],
    [["--k8s-client-key", "k", "--k8s-cluster-endpoint", "https://h"], "--k8s-client-certificate and --k8s-client-key go together"],
    [["--k8s-cluster-token", "a.b.c"], "--k8s-cluster-endpoint is required unless --use-gw-service-account"],
  ])("refuses %j before calling the server", async (flags, message) => {
    const result = await runLatchkey([...base, ...flags], { env: fake.env });
    expect(result).toEqual({ code: 2, stdout: "", stderr: `${message}\n` });
    expect(fake.server.requests).toHaveLength(0);
  });

  it("refuses to replace an existing target", async () => {
    fake.server.on("GET", "kubernetes/targets/prod", { body: { data: { kubernetes_host: "https://h" } } });
    const result = await runLatchkey([...base, "--use-gw-service-account"], { env: fake.env });
    expect(result).toEqual({ code: 1, stdout: "", stderr: "Error: The target prod already exists at kubernetes/targets/prod\n" });
    expect(posted(fake)).toHaveLength(0);
  });

  it("the server's 400 goes to stderr with exit 1", async () => {
    fake.server.on("POST", "kubernetes/targets/prod", { status: 400, body: { errors: ['field "kubernetes_host" must be an http(s) URL'] } });
    const result = await runLatchkey([...base, "--k8s-cluster-endpoint", "h", "--k8s-cluster-token", "a.b.c"], { env: fake.env });
    expect(result.code).toBe(1);
    expect(result.stdout).toBe("");
    expect(result.stderr).toMatch(/^Error writing target prod: Error making API request\./);
    expect(result.stderr).toContain('* field "kubernetes_host" must be an http(s) URL');
  });
});

describe("dynamic-secret create k8s", () => {
  const fake = useFakeLatchkey({ token: "lks.admin" });
  const base = ["dynamic-secret", "create", "k8s", "--name", "/k8s-dashboard-producer", "--target-name", "prod"];
  const accept = () => fake.server.on("POST", "kubernetes/roles/k8s-dashboard-producer", {});

  it("fixed mode: the service account and its namespace; --user-ttl is the default TTL", async () => {
    accept();
    const result = await runLatchkey(
      [...base, "--k8s-service-account-type", "fixed", "--k8s-service-account", "kubernetes-dashboard", "--k8s-namespace", "dash", "--user-ttl", "60m"],
      { env: fake.env },
    );
    expect(result).toEqual({
      code: 0,
      stdout: "Success! Created dynamic secret k8s-dashboard-producer at kubernetes/roles/k8s-dashboard-producer\n",
      stderr: "",
    });
    expect(posted(fake)[0].body).toEqual({
      target: "prod",
      token_default_ttl: "60m",
      service_account_name: "kubernetes-dashboard",
      allowed_kubernetes_namespaces: ["dash"],
    });
  });

  it("fixed is the default mode; without --target-name the mount's config is used", async () => {
    accept();
    const result = await runLatchkey(["dynamic-secret", "create", "k8s", "-n", "k8s-dashboard-producer", "--k8s-service-account", "sa", "--k8s-namespace", "ns"], {
      env: fake.env,
    });
    expect(result.code).toBe(0);
    expect(posted(fake)[0].body).toEqual({ service_account_name: "sa", allowed_kubernetes_namespaces: ["ns"] });
  });

  it("dynamic mode with a predefined role: comma-separated allowed namespaces", async () => {
    accept();
    const result = await runLatchkey(
      [
        ...base, "--k8s-service-account-type", "dynamic", "--k8s-predefined-role-type", "ClusterRole", "--k8s-predefined-role-name", "view",
        "--k8s-allowed-namespaces", "team-a, team-b",
      ],
      { env: fake.env },
    );
    expect(result.code).toBe(0);
    expect(posted(fake)[0].body).toEqual({
      target: "prod",
      allowed_kubernetes_namespaces: ["team-a", "team-b"],
      kubernetes_role_name: "view",
      kubernetes_role_type: "ClusterRole",
    });
  });

  it("dynamic mode with a Role + RoleBinding YAML file", async () => {
    accept();
    const yaml = "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: example-role\n";
    const file = join(fake.home, "rb.yaml");
    await writeFile(file, yaml);
    const result = await runLatchkey(
      [...base, "--k8s-service-account-type", "dynamic", "--k8s-rolebinding-yaml-def", file, "--k8s-allowed-namespaces", "*"],
      { env: fake.env },
    );
    expect(result.code).toBe(0);
    expect(posted(fake)[0].body).toEqual({ target: "prod", allowed_kubernetes_namespaces: ["*"], role_binding_yaml: yaml });
  });

  it.each([
    [["--k8s-service-account", "sa"], "--k8s-service-account-type fixed needs --k8s-service-account and --k8s-namespace"],
    [
      ["--k8s-service-account", "sa", "--k8s-namespace", "ns", "--k8s-allowed-namespaces", "a"],
      "--k8s-allowed-namespaces: for --k8s-service-account-type dynamic only",
    ],
    [
      ["--k8s-service-account-type", "dynamic", "--k8s-predefined-role-name", "view"],
      '--k8s-service-account-type dynamic needs --k8s-allowed-namespaces (names, or "*" for any)',
    ],
    [
      ["--k8s-service-account-type", "dynamic", "--k8s-allowed-namespaces", "a", "--k8s-namespace", "ns"],
      "--k8s-namespace: for --k8s-service-account-type fixed only",
    ],
    [
      ["--k8s-service-account-type", "dynamic", "--k8s-allowed-namespaces", "a"],
      "--k8s-service-account-type dynamic needs --k8s-predefined-role-name (and -type) or --k8s-rolebinding-yaml-def",
    ],
    [
      ["--k8s-service-account-type", "dynamic", "--k8s-allowed-namespaces", "a", "--k8s-predefined-role-name", "view"],
      "--k8s-predefined-role-name and --k8s-predefined-role-type go together",
    ],
  ])("refuses %j before calling the server", async (flags, message) => {
    const result = await runLatchkey([...base, ...flags], { env: fake.env });
    expect(result).toEqual({ code: 2, stdout: "", stderr: `${message}\n` });
    expect(fake.server.requests).toHaveLength(0);
  });

  it("a missing YAML file is a usage error naming it", async () => {
    const file = join(fake.home, "missing.yaml");
    const result = await runLatchkey([...base, "--k8s-service-account-type", "dynamic", "--k8s-rolebinding-yaml-def", file, "--k8s-allowed-namespaces", "a"], {
      env: fake.env,
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`Error reading file ${file}:`);
  });

  it("an unknown role type is refused by commander", async () => {
    const result = await runLatchkey([...base, "--k8s-service-account-type", "dynamic", "--k8s-predefined-role-type", "Group"], { env: fake.env });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("Allowed choices are Role, ClusterRole.");
  });
});

describe("get-dynamic-secret-value", () => {
  const fake = useFakeLatchkey({ token: "lks.user" });
  const creds = {
    lease_id: "kubernetes/creds/dash/abc",
    data: {
      service_account_name: "kubernetes-dashboard",
      service_account_namespace: "dash",
      service_account_token: "eyJhbGciOi.eyJzdWIi.sig",
      cluster_endpoint: "https://10.0.0.1:6443",
      cluster_ca_certificate: CA,
      expiration: "2030-01-02T03:04:05.678Z",
    },
  };

  it("prints a v1beta1 ExecCredential; --args namespace= becomes kubernetes_namespace", async () => {
    fake.server.on("POST", "kubernetes/creds/dash", { body: creds });
    const result = await runLatchkey(["get-dynamic-secret-value", "--name", "dash", "--args", "namespace=dash"], { env: fake.env });
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({
      kind: "ExecCredential",
      apiVersion: "client.authentication.k8s.io/v1beta1",
      spec: {},
      status: { token: "eyJhbGciOi.eyJzdWIi.sig", expirationTimestamp: "2030-01-02T03:04:05Z" },
    });
    expect(posted(fake)[0].body).toEqual({ kubernetes_namespace: "dash" });
    expect(posted(fake)[0].headers["x-vault-token"]).toBe("lks.user");
  });

  it("answers the apiVersion KUBERNETES_EXEC_INFO asks for", async () => {
    fake.server.on("POST", "kubernetes/creds/dash", { body: creds });
    const execInfo = JSON.stringify({ kind: "ExecCredential", apiVersion: "client.authentication.k8s.io/v1", spec: { interactive: false } });
    const result = await runLatchkey(["get-dynamic-secret-value", "-n", "dash"], { env: { ...fake.env, KUBERNETES_EXEC_INFO: execInfo } });
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ apiVersion: "client.authentication.k8s.io/v1" });
    expect(posted(fake)[0].body).toEqual({});
  });

  it("--json prints the credentials as returned; ttl, audiences and --mount are passed on", async () => {
    fake.server.on("POST", "k8s/creds/dash", { body: creds });
    const result = await runLatchkey(
      ["get-dynamic-secret-value", "-n", "dash", "--json", "--mount", "k8s", "--args", "ttl=15m", "--args", "audiences=a, b"],
      { env: fake.env },
    );
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual(creds.data);
    expect(posted(fake)[0].body).toEqual({ ttl: "15m", audiences: ["a", "b"] });
  });

  it("the server's warnings go to stderr, the credential alone to stdout", async () => {
    fake.server.on("POST", "kubernetes/creds/dash", { body: { ...creds, warnings: ["the token is not bound to the lease"] } });
    const result = await runLatchkey(["get-dynamic-secret-value", "-n", "dash"], { env: fake.env });
    expect(result.code).toBe(0);
    expect(result.stderr).toContain("the token is not bound to the lease");
    expect(JSON.parse(result.stdout).kind).toBe("ExecCredential");
  });

  it("a refusal goes to stderr with exit 1 and nothing on stdout", async () => {
    fake.server.on("POST", "kubernetes/creds/dash", { status: 400, body: { errors: ['namespace "other" is not allowed by role "dash"'] } });
    const result = await runLatchkey(["get-dynamic-secret-value", "-n", "dash", "--args", "namespace=other"], { env: fake.env });
    expect(result.code).toBe(1);
    expect(result.stdout).toBe("");
    expect(result.stderr).toMatch(/^Error getting the value of dynamic secret dash: Error making API request\./);
    expect(result.stderr).toContain('* namespace "other" is not allowed by role "dash"');
  });

  it("refuses an unknown --args key and an ExecCredential version it does not speak", async () => {
    const unknown = await runLatchkey(["get-dynamic-secret-value", "-n", "dash", "--args", "profile=x"], { env: fake.env });
    expect(unknown).toEqual({ code: 2, stdout: "", stderr: 'Unknown --args key "profile": expected namespace, ttl, audiences, cluster_role_binding\n' });
    const version = await runLatchkey(["get-dynamic-secret-value", "-n", "dash"], {
      env: { ...fake.env, KUBERNETES_EXEC_INFO: '{"apiVersion":"client.authentication.k8s.io/v2"}' },
    });
    expect(version.code).toBe(2);
    expect(version.stderr).toContain('KUBERNETES_EXEC_INFO asks for apiVersion "client.authentication.k8s.io/v2"');
    expect(fake.server.requests).toHaveLength(0);
  });
});

describe("execCredentialVersion", () => {
  it.each([
    [undefined, "client.authentication.k8s.io/v1beta1"],
    ["", "client.authentication.k8s.io/v1beta1"],
    ['{"apiVersion":"client.authentication.k8s.io/v1beta1"}', "client.authentication.k8s.io/v1beta1"],
    ['{"apiVersion":"client.authentication.k8s.io/v1alpha1"}', "client.authentication.k8s.io/v1alpha1"],
  ])("%j → %s", (info, version) => {
    expect(execCredentialVersion(info)).toBe(version);
  });

  it("refuses text that is not JSON", () => {
    expect(() => execCredentialVersion("v1")).toThrow("KUBERNETES_EXEC_INFO is not JSON: expected the ExecCredential kubectl sets");
  });
});

describe("kubeconfig-generate", () => {
  const fake = useFakeLatchkey({ token: "lks.admin" });

  it("reads the cluster from the role's target and writes an exec user", async () => {
    fake.server.on("GET", "kubernetes/roles/dash", { body: { data: { target: "prod", service_account_name: "sa" } } });
    fake.server.on("GET", "kubernetes/targets/prod", { body: { data: { kubernetes_host: "https://10.0.0.1:6443", kubernetes_ca_cert: CA_PEM } } });
    const file = join(fake.home, "kubeconfig");
    const result = await runLatchkey(["kubeconfig-generate", "--name", "dash", "--namespace", "team-a", "--output", file], { env: fake.env });
    expect(result).toEqual({ code: 0, stdout: `Success! Wrote the kubeconfig of dynamic secret dash to ${file}\n`, stderr: "" });
    expect(posted(fake)).toHaveLength(0);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const config = parse(await readFile(file, "utf8"));
    expect(config.clusters).toEqual([
      { name: "latchkey-dash", cluster: { server: "https://10.0.0.1:6443", "certificate-authority-data": Buffer.from(CA_PEM).toString("base64") } },
    ]);
    expect(config.contexts).toEqual([{ name: "latchkey-dash", context: { cluster: "latchkey-dash", user: "latchkey-dash", namespace: "team-a" } }]);
    expect(config["current-context"]).toBe("latchkey-dash");
    const exec = config.users[0].user.exec;
    expect(exec.apiVersion).toBe("client.authentication.k8s.io/v1beta1");
    expect(exec.command).toBe(process.execPath);
    expect(exec.args[0]).toMatch(/\/bin\/latchkey\.js$/);
    expect(exec.args.slice(1)).toEqual(["get-dynamic-secret-value", "--name", "dash", "--args", "namespace=team-a"]);
    expect(exec.interactiveMode).toBe("Never");
  });

  it("a role without a target reads the mount's config; an explicit address and mount go into the arguments", async () => {
    fake.server.on("GET", "k8s/roles/dash", { body: { data: { target: "" } } });
    fake.server.on("GET", "k8s/config", { body: { data: { kubernetes_host: "https://h:6443", kubernetes_ca_cert: CA_PEM } } });
    const result = await runLatchkey(["kubeconfig-generate", "-n", "dash", "--mount", "k8s", "--gateway-url", fake.server.address], { env: fake.env });
    expect(result.code).toBe(0);
    const exec = parse(result.stdout).users[0].user.exec;
    expect(exec.args.slice(1)).toEqual(["get-dynamic-secret-value", "--name", "dash", "--mount", "k8s", "--gateway-url", fake.server.address]);
  });

  it("a caller who may not read the role gets the cluster from one credential, whose lease it revokes", async () => {
    fake.server.on("GET", "kubernetes/roles/dash", { status: 403, body: { errors: ["permission denied"] } });
    fake.server.on("POST", "kubernetes/creds/dash", {
      body: { lease_id: "kubernetes/creds/dash/abc", data: { service_account_token: "t", cluster_endpoint: "https://h:6443", cluster_ca_certificate: CA } },
    });
    fake.server.on("PUT", "sys/leases/revoke", {});
    const result = await runLatchkey(["kubeconfig-generate", "-n", "dash", "--namespace", "team-a"], { env: fake.env });
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(parse(result.stdout).clusters[0].cluster).toEqual({ server: "https://h:6443", "certificate-authority-data": CA });
    expect(fake.server.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      "GET kubernetes/roles/dash",
      "POST kubernetes/creds/dash",
      "PUT sys/leases/revoke",
    ]);
    expect(fake.server.requests[1].body).toEqual({ kubernetes_namespace: "team-a" });
    expect(fake.server.requests[2].body).toEqual({ lease_id: "kubernetes/creds/dash/abc" });
  });

  it("a dynamic secret that does not exist: exit 1", async () => {
    const result = await runLatchkey(["kubeconfig-generate", "-n", "nope"], { env: fake.env });
    expect(result).toEqual({ code: 1, stdout: "", stderr: "Error: No dynamic secret named nope at kubernetes/roles/nope\n" });
  });
});

describe("target and dynamic-secret get, list, delete", () => {
  const fake = useFakeLatchkey({ token: "lks.admin" });

  it("target get shows the target; list names them; delete removes one", async () => {
    fake.server.on("GET", "kubernetes/targets/prod", { body: { data: { kubernetes_host: "https://k8s:6443", service_account_jwt_set: true } } });
    const got = await runLatchkey(["target", "get", "-n", "/prod", "--json"], { env: fake.env });
    expect(got.code).toBe(0);
    expect(JSON.parse(got.stdout)).toEqual({ kubernetes_host: "https://k8s:6443", service_account_jwt_set: true });
    fake.server.on("GET", "kubernetes/targets", { body: { data: { keys: ["prod", "staging"] } } });
    expect(await runLatchkey(["target", "list"], { env: fake.env })).toEqual({ code: 0, stdout: "prod\nstaging\n", stderr: "" });
    fake.server.on("DELETE", "kubernetes/targets/prod", {});
    expect(await runLatchkey(["target", "delete", "-n", "prod"], { env: fake.env })).toEqual({
      code: 0,
      stdout: "Success! Deleted target prod at kubernetes/targets/prod\n",
      stderr: "",
    });
    expect(fake.server.requests.at(-1)).toMatchObject({ method: "DELETE", path: "kubernetes/targets/prod" });
  });

  it("dynamic-secret get/list/delete use the engine's roles; a missing one exits 1 and deletes nothing", async () => {
    fake.server.on("GET", "kubernetes/roles", { body: { data: { keys: ["reader"] } } });
    expect(JSON.parse((await runLatchkey(["dynamic-secret", "list", "--json"], { env: fake.env })).stdout)).toEqual({ names: ["reader"] });
    const missing = await runLatchkey(["dynamic-secret", "delete", "-n", "absent"], { env: fake.env });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe("Error: No dynamic secret absent at kubernetes/roles/absent\n");
    expect(fake.server.requests.some((r) => r.method === "DELETE")).toBe(false);
    expect((await runLatchkey(["dynamic-secret", "get", "-n", "absent"], { env: fake.env })).code).toBe(2);
  });
});

describe("dynamic-secret create k8s with the cluster inline", () => {
  const fake = useFakeLatchkey({ token: "lks.admin" });
  const base = ["dynamic-secret", "create", "k8s", "--name", "dash", "--k8s-service-account", "sa", "--k8s-namespace", "ns"];
  const cluster = ["--k8s-cluster-endpoint", "https://10.0.0.1:6443", "--k8s-cluster-ca-cert", CA, "--k8s-cluster-token", "eyJa.eyJb.c"];

  it("makes a target of the secret's name, then the secret using it", async () => {
    fake.server.on("POST", "kubernetes/targets/dash", {});
    fake.server.on("POST", "kubernetes/roles/dash", {});
    const result = await runLatchkey([...base, ...cluster], { env: fake.env });
    expect(result).toEqual({ code: 0, stdout: "Success! Created dynamic secret dash at kubernetes/roles/dash with target dash\n", stderr: "" });
    expect(posted(fake).map((r) => [r.path, r.body])).toEqual([
      ["kubernetes/targets/dash", { kubernetes_host: "https://10.0.0.1:6443", kubernetes_ca_cert: CA, service_account_jwt: "eyJa.eyJb.c" }],
      ["kubernetes/roles/dash", { target: "dash", service_account_name: "sa", allowed_kubernetes_namespaces: ["ns"] }],
    ]);
  });

  it("deletes the target again when the server refuses the secret", async () => {
    fake.server.on("POST", "kubernetes/targets/dash", {});
    fake.server.on("POST", "kubernetes/roles/dash", { status: 400, body: { errors: ["bad role"] } });
    fake.server.on("DELETE", "kubernetes/targets/dash", {});
    const result = await runLatchkey([...base, ...cluster], { env: fake.env });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("bad role");
    expect(fake.server.requests.at(-1)).toMatchObject({ method: "DELETE", path: "kubernetes/targets/dash" });
  });

  it("refuses --target-name with the inline flags", async () => {
    const result = await runLatchkey([...base, ...cluster, "--target-name", "prod"], { env: fake.env });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("give --target-name or the --k8s-cluster-* flags, not both");
    expect(fake.server.requests).toEqual([]);
  });
});
