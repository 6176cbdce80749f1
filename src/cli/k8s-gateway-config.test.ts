import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runLatchkey, startFakeServer, useFakeLatchkey } from "./test-support.js";

const KEY = "LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tCg==";
const CA = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==";
const base = ["gateway-create-k8s-auth-config", "--name", "k8s-conf", "--access-id", "p-abc", "--signing-key", KEY];

describe("gateway-create-k8s-auth-config", () => {
  const fake = useFakeLatchkey({ token: "lks.admin" });
  const accept = () => fake.server.on("POST", "auth/kubernetes/config/k8s-conf", {});
  const written = () => fake.server.requests.filter((r) => r.method === "POST").map((r) => r.body);

  it("writes a config with a reviewer JWT, host and CA to --gateway-url", async () => {
    const gateway = await startFakeServer();
    try {
      gateway.on("POST", "auth/kubernetes/config/k8s-conf", {});
      const result = await runLatchkey(
        [...base, "--gateway-url", gateway.address, "--token-reviewer-jwt", "eyJa.eyJb.c", "--k8s-host", "https://10.0.0.1:6443", "--k8s-ca-cert", CA],
        { env: fake.env },
      );
      expect(result).toEqual({
        code: 0,
        stdout: "Success! Created k8s auth config k8s-conf at auth/kubernetes/config/k8s-conf\n",
        stderr: "",
      });
      expect(fake.server.requests).toHaveLength(0);
      expect(gateway.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
        "GET auth/kubernetes/config/k8s-conf",
        "POST auth/kubernetes/config/k8s-conf",
      ]);
      expect(gateway.requests[1].headers["x-vault-token"]).toBe("lks.admin");
      expect(gateway.requests[1].body).toEqual({
        access_id: "p-abc",
        signing_key: KEY,
        token_reviewer_jwt: "eyJa.eyJb.c",
        kubernetes_host: "https://10.0.0.1:6443",
        kubernetes_ca_cert: CA,
      });
    } finally {
      await gateway.close();
    }
  });

  it("--use-gw-service-account sends no reviewer credentials; issuer and token lifetime are passed on", async () => {
    fake.server.on("POST", "auth/k8s/config/k8s-conf", {});
    const result = await runLatchkey(
      [...base, "-use-gw-service-account", "-k8s-issuer=https://kubernetes.default.svc", "-token-exp=120", "-mount=k8s", "-json"],
      { env: fake.env },
    );
    expect(result).toEqual({ code: 0, stdout: '{\n  "name": "k8s-conf",\n  "path": "auth/k8s/config/k8s-conf"\n}\n', stderr: "" });
    expect(fake.server.requests[1].body).toEqual({
      access_id: "p-abc",
      signing_key: KEY,
      issuer: "https://kubernetes.default.svc",
      disable_iss_validation: false,
      token_exp: 120,
    });
  });

  it("--disable-issuer-validation wins over an issuer", async () => {
    accept();
    await runLatchkey([...base, "--use-gw-service-account", "--k8s-issuer", "api", "--disable-issuer-validation"], { env: fake.env });
    expect(written()[0]).toMatchObject({ issuer: "api", disable_iss_validation: true });
  });

  it("takes a client certificate with --k8s-auth-type certificate, and @file values", async () => {
    accept();
    await writeFile(join(fake.home, "key.b64"), `${KEY}\n`);
    await writeFile(join(fake.home, "client.pem"), "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
    const result = await runLatchkey(
      [
        "gateway-create-k8s-auth-config", "-n", "k8s-conf", "--access-id", "p-abc", "--signing-key", `@${join(fake.home, "key.b64")}`,
        "--k8s-auth-type", "certificate", "--k8s-client-certificate", `@${join(fake.home, "client.pem")}`, "--k8s-client-key", "S0VZ",
        "--k8s-host", "https://10.0.0.1:6443",
      ],
      { env: fake.env },
    );
    expect(result.code).toBe(0);
    expect(written()[0]).toEqual({
      access_id: "p-abc",
      signing_key: KEY,
      client_cert: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
      client_key: "S0VZ",
      kubernetes_host: "https://10.0.0.1:6443",
    });
  });

  it.each([
    [[], "Give the reviewer identity: --use-gw-service-account, --token-reviewer-jwt, or --k8s-auth-type certificate"],
    [["--use-gw-service-account", "--token-reviewer-jwt", "a.b.c"], "--use-gw-service-account and --token-reviewer-jwt exclude each other"],
    [["--k8s-auth-type", "certificate"], "--k8s-auth-type certificate needs --k8s-client-certificate and --k8s-client-key"],
    [
      ["--k8s-auth-type", "certificate", "--use-gw-service-account", "--k8s-client-certificate", "c", "--k8s-client-key", "k"],
      "--k8s-auth-type certificate excludes --use-gw-service-account and --token-reviewer-jwt",
    ],
    [["--token-reviewer-jwt", "a.b.c", "--k8s-client-key", "k"], "--k8s-client-certificate and --k8s-client-key need --k8s-auth-type certificate"],
  ])("refuses the reviewer flags %j before calling the server", async (flags, message) => {
    const result = await runLatchkey([...base, ...flags], { env: fake.env });
    expect(result).toEqual({ code: 2, stdout: "", stderr: `${message}\n` });
    expect(fake.server.requests).toHaveLength(0);
  });

  it("requires the name, access id and signing key", async () => {
    const result = await runLatchkey(["gateway-create-k8s-auth-config", "--name", "x", "--use-gw-service-account"], { env: fake.env });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("required option '--access-id <id>' not specified");
  });

  it("a signing key that does not match: the server's 400 message, exit 1", async () => {
    fake.server.on("POST", "auth/kubernetes/config/k8s-conf", {
      status: 400,
      body: { errors: ['field "signing_key" does not match the public key of access id "p-abc"'] },
    });
    const result = await runLatchkey([...base, "--use-gw-service-account"], { env: fake.env });
    expect(result.code).toBe(1);
    expect(result.stdout).toBe("");
    expect(result.stderr).toMatch(/^Error writing k8s auth config k8s-conf: Error making API request\./);
    expect(result.stderr).toContain("Code: 400. Errors:");
    expect(result.stderr).toContain('* field "signing_key" does not match the public key of access id "p-abc"');
    expect(result.stderr).not.toContain(KEY);
  });

  it("create refuses an existing name; update refuses a missing one", async () => {
    fake.server.on("GET", "auth/kubernetes/config/k8s-conf", { body: { data: { access_id: "p-abc" } } });
    const create = await runLatchkey([...base, "--use-gw-service-account"], { env: fake.env });
    expect(create).toEqual({
      code: 1,
      stdout: "",
      stderr: "Error: The k8s auth config k8s-conf already exists; replace it with gateway-update-k8s-auth-config\n",
    });
    accept();
    const update = await runLatchkey(["gateway-update-k8s-auth-config", ...base.slice(1), "--use-gw-service-account"], { env: fake.env });
    expect(update).toEqual({ code: 0, stdout: "Success! Updated k8s auth config k8s-conf at auth/kubernetes/config/k8s-conf\n", stderr: "" });
    const missing = await runLatchkey(["gateway-update-k8s-auth-config", ...base.slice(1), "--name", "other", "--use-gw-service-account"], {
      env: fake.env,
    });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe("Error: No k8s auth config named other; create it with gateway-create-k8s-auth-config\n");
  });
});

describe("gateway-get/list/delete-k8s-auth-config", () => {
  const fake = useFakeLatchkey({ token: "lks.admin" });

  it("get prints the config without secrets; list names the configs; delete removes one", async () => {
    fake.server.on("GET", "auth/kubernetes/config/k8s-conf", {
      body: { data: { access_id: "p-abc", signing_key_set: true, token_exp: 300, kubernetes_host: "https://h" } },
    });
    fake.server.on("GET", "auth/kubernetes/config", { body: { data: { keys: ["default", "k8s-conf"] } } });
    fake.server.on("DELETE", "auth/kubernetes/config/k8s-conf", {});
    const get = await runLatchkey(["gateway-get-k8s-auth-config", "-n", "k8s-conf"], { env: fake.env });
    expect(get.stdout).toBe(
      "Key                Value\n---                -----\naccess_id          p-abc\nkubernetes_host    https://h\nsigning_key_set    true\ntoken_exp          300\n",
    );
    const json = await runLatchkey(["gateway-get-k8s-auth-config", "-name=k8s-conf", "-json"], { env: fake.env });
    expect(JSON.parse(json.stdout)).toEqual({ access_id: "p-abc", signing_key_set: true, token_exp: 300, kubernetes_host: "https://h" });
    const list = await runLatchkey(["gateway-list-k8s-auth-configs"], { env: fake.env });
    expect(list.stdout).toBe("Keys\n----\ndefault\nk8s-conf\n");
    const listJson = await runLatchkey(["gateway-list-k8s-auth-configs", "--json"], { env: fake.env });
    expect(JSON.parse(listJson.stdout)).toEqual(["default", "k8s-conf"]);
    const remove = await runLatchkey(["gateway-delete-k8s-auth-config", "-n", "k8s-conf"], { env: fake.env });
    expect(remove).toEqual({ code: 0, stdout: "Success! Deleted k8s auth config (if it existed): k8s-conf\n", stderr: "" });
    const missing = await runLatchkey(["gateway-get-k8s-auth-config", "-n", "none"], { env: fake.env });
    expect(missing).toEqual({ code: 2, stdout: "", stderr: "No value found at auth/kubernetes/config/none\n" });
  });
});
