import { readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runLatchkey, startFakeServer, useFakeLatchkey } from "./test-support.js";

const JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJwb2QifQ.c2lnbmF0dXJl";
const loggedIn = {
  auth: {
    client_token: "lks.fromk8s",
    accessor: "acc-1",
    policies: ["default", "read-app"],
    token_policies: ["default", "read-app"],
    metadata: { role: "m", pod_name: "mypod1", config_name: "k8s-conf" },
    lease_duration: 1200,
    renewable: true,
  },
};

describe("auth --access-type k8s", () => {
  const fake = useFakeLatchkey();
  const tokenFile = () => join(fake.home, "sa-token");
  const args = () => [
    "auth", "--access-id", "p-abc", "--access-type", "k8s", "--gateway-url", fake.server.address,
    "--k8s-auth-config-name", "k8s-conf", "--k8s-token-path", tokenFile(),
  ];

  it("logs in with the pod's token and prints the token as the reference does", async () => {
    await writeFile(tokenFile(), `${JWT}\n`);
    fake.server.on("POST", "auth/kubernetes/login", { body: loggedIn });
    const result = await runLatchkey(args(), { env: { HOME: fake.home, LATCHKEY_ADDR: "http://127.0.0.1:9", LATCHKEY_TOKEN: "lks.old" } });
    expect(result).toEqual({ code: 0, stdout: "Authentication succeeded.\nToken: lks.fromk8s\n", stderr: "" });
    const [request] = fake.server.requests;
    expect(request.body).toEqual({ access_id: "p-abc", config: "k8s-conf", jwt: JWT });
    expect(request.headers["x-vault-token"]).toBeUndefined();
    await expect(stat(join(fake.home, ".latchkey-token"))).rejects.toThrow();
  });

  it("--json prints the token, its policies and expiry, never the JWT; --store saves it", async () => {
    await writeFile(tokenFile(), JWT);
    fake.server.on("POST", "auth/k8s/login", { body: loggedIn });
    const before = Date.now();
    const result = await runLatchkey([...args(), "-json", "-mount=k8s", "-store"], { env: { HOME: fake.home } });
    expect(result.code).toBe(0);
    const shown: unknown = JSON.parse(result.stdout);
    expect(shown).toEqual({
      token: "lks.fromk8s",
      accessor: "acc-1",
      policies: ["default", "read-app"],
      ttl: 1200,
      expiry: expect.any(String),
      renewable: true,
      metadata: { role: "m", pod_name: "mypod1", config_name: "k8s-conf" },
    });
    const expiry = Date.parse((shown as { expiry: string }).expiry);
    expect(expiry).toBeGreaterThanOrEqual(before + 1_200_000);
    expect(expiry).toBeLessThan(Date.now() + 1_200_000 + 1000);
    expect(result.stdout).not.toContain(JWT);
    expect(await readFile(join(fake.home, ".latchkey-token"), "utf8")).toBe("lks.fromk8s");
  });

  it("single-dash forms work", async () => {
    await writeFile(tokenFile(), JWT);
    fake.server.on("POST", "auth/kubernetes/login", { body: loggedIn });
    const result = await runLatchkey(
      ["auth", "-access-id=p-abc", "-access-type=k8s", `-gateway-url=${fake.server.address}`, "-k8s-auth-config-name=k8s-conf", `-k8s-token-path=${tokenFile()}`],
      { env: { HOME: fake.home } },
    );
    expect(result.code).toBe(0);
    expect(fake.server.requests[0].body).toEqual({ access_id: "p-abc", config: "k8s-conf", jwt: JWT });
  });

  it("a refusal prints the server's message and exits 1, without the JWT", async () => {
    await writeFile(tokenFile(), JWT);
    fake.server.on("POST", "auth/kubernetes/login", { status: 403, body: { errors: [`permission denied: pod not authorized ${JWT}`] } });
    const result = await runLatchkey(args(), { env: { HOME: fake.home } });
    expect(result.code).toBe(1);
    expect(result.stdout).toBe("");
    expect(result.stderr).toMatch(/^Error authenticating: Error making API request\./);
    expect(result.stderr).toContain("Code: 403. Errors:");
    expect(result.stderr).toContain("* permission denied: pod not authorized <redacted>");
    expect(result.stderr).not.toContain(JWT);
  });

  it("a missing or empty token file is an error before any request", async () => {
    const missing = await runLatchkey(args(), { env: { HOME: fake.home } });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^Error reading the service account token .*sa-token: ENOENT/);
    await writeFile(tokenFile(), "\n");
    const empty = await runLatchkey(args(), { env: { HOME: fake.home } });
    expect(empty).toEqual({ code: 1, stdout: "", stderr: `Error: The service account token file ${tokenFile()} is empty\n` });
    expect(fake.server.requests).toHaveLength(0);
  });

  it("reads the pod's standard token path by default", async () => {
    const result = await runLatchkey(
      ["auth", "--access-id", "p-abc", "--access-type", "k8s", "--k8s-auth-config-name", "c"],
      { env: fake.env },
    );
    expect(result.stderr).toContain("/var/run/secrets/kubernetes.io/serviceaccount/token");
  });

  it.each([
    [["--access-type", "access_key", "--access-id", "p-abc"], "--access-type access_key is not supported: give --access-type k8s (other methods: latchkey login -method=<type>)"],
    [["--access-type", "k8s", "--k8s-auth-config-name", "c"], "--access-type k8s needs --access-id"],
    [["--access-type", "k8s", "--access-id", "p-abc"], "--access-type k8s needs --k8s-auth-config-name"],
  ])("refuses %j", async (flags, message) => {
    const result = await runLatchkey(["auth", ...flags], { env: fake.env });
    expect(result).toEqual({ code: 2, stdout: "", stderr: `${message}\n` });
  });

  it("is found by the gateway only: no request goes to LATCHKEY_ADDR", async () => {
    const other = await startFakeServer();
    try {
      await writeFile(tokenFile(), JWT);
      fake.server.on("POST", "auth/kubernetes/login", { body: loggedIn });
      await runLatchkey(args(), { env: { HOME: fake.home, LATCHKEY_ADDR: other.address } });
      expect(other.requests).toHaveLength(0);
      expect(fake.server.requests).toHaveLength(1);
    } finally {
      await other.close();
    }
  });
});

describe("the auth group keeps its subcommands", () => {
  const fake = useFakeLatchkey({ token: "lks.admin" });

  it("without options it shows its help on stderr and exits 2, as other groups do", async () => {
    const result = await runLatchkey(["auth"], { env: fake.env });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("Usage: latchkey auth [options] [command]");
    expect(result.stderr).toContain("--access-type <type>");
    expect(result.stderr).toContain("enable [options] <type>");
  });

  it("auth enable, list and disable still work, their options untouched by auth's own", async () => {
    fake.server.on("POST", "sys/auth/k8s", {});
    fake.server.on("GET", "sys/auth", { body: { data: { "k8s/": { type: "kubernetes", accessor: "auth_k8s_1" } } } });
    fake.server.on("DELETE", "sys/auth/k8s", {});
    const enable = await runLatchkey(["auth", "enable", "-path=k8s", "kubernetes"], { env: fake.env });
    expect(enable).toEqual({ code: 0, stdout: "Success! Enabled kubernetes auth method at: k8s/\n", stderr: "" });
    const list = await runLatchkey(["auth", "list", "-format=json"], { env: fake.env });
    expect(JSON.parse(list.stdout)).toEqual({ "k8s/": { type: "kubernetes", accessor: "auth_k8s_1" } });
    const disable = await runLatchkey(["auth", "disable", "k8s"], { env: fake.env });
    expect(disable.code).toBe(0);
    const misplaced = await runLatchkey(["auth", "list", "--json"], { env: fake.env });
    expect(misplaced.code).toBe(2);
    expect(misplaced.stderr).toContain("error: --json is an option of auth --access-type k8s, not of auth list");
  });

  it("an unknown subcommand is still an error", async () => {
    const result = await runLatchkey(["auth", "frobnicate"], { env: fake.env });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("error: too many arguments for 'auth'");
  });
});
