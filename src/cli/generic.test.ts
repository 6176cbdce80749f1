import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runLatchkey, useFakeLatchkey } from "./test-support.js";

describe("read / write / list / delete", () => {
  const fake = useFakeLatchkey({ token: "lks.root" });

  const secret = { request_id: "r1", lease_id: "", renewable: false, lease_duration: 2764800, data: { password: "pw", user: "app" }, warnings: null };

  it("read prints a key/value table", async () => {
    fake.server.on("GET", "cubbyhole/app", { body: secret });
    const result = await runLatchkey(["read", "cubbyhole/app"], { env: fake.env });
    expect(result).toEqual({
      code: 0,
      stderr: "",
      stdout: [
        "Key                 Value",
        "---                 -----",
        "refresh_interval    768h",
        "password            pw",
        "user                app",
        "",
      ].join("\n"),
    });
    expect(fake.server.requests[0].headers["x-vault-token"]).toBe("lks.root");
  });

  it("read -field prints the raw value without a newline; --field works too", async () => {
    fake.server.on("GET", "cubbyhole/app", { body: secret });
    expect(await runLatchkey(["read", "-field=password", "cubbyhole/app"], { env: fake.env })).toEqual({ code: 0, stdout: "pw", stderr: "" });
    expect((await runLatchkey(["read", "--field", "user", "cubbyhole/app"], { env: fake.env })).stdout).toBe("app");
    const missing = await runLatchkey(["read", "-field=nope", "cubbyhole/app"], { env: fake.env });
    expect(missing).toEqual({ code: 1, stdout: "", stderr: 'Field "nope" not present in secret\n' });
  });

  it("read -format=json and -format yaml print the whole response", async () => {
    fake.server.on("GET", "cubbyhole/app", { body: secret });
    const json = await runLatchkey(["read", "-format=json", "cubbyhole/app"], { env: fake.env });
    expect(JSON.parse(json.stdout)).toEqual(secret);
    const yaml = await runLatchkey(["read", "-format", "yaml", "cubbyhole/app"], { env: fake.env });
    expect(yaml.stdout).toContain("data:\n  password: pw\n  user: app\n");
  });

  it("LATCHKEY_FORMAT sets the default format", async () => {
    fake.server.on("GET", "cubbyhole/app", { body: secret });
    const json = await runLatchkey(["read", "cubbyhole/app"], { env: { ...fake.env, LATCHKEY_FORMAT: "json" } });
    expect(JSON.parse(json.stdout)).toEqual(secret);
  });

  it("read passes key=value pairs as query parameters", async () => {
    fake.server.on("GET", "secret/data/app", { body: secret });
    await runLatchkey(["read", "secret/data/app", "version=2"], { env: fake.env });
    expect(fake.server.requests[0].query.get("version")).toBe("2");
  });

  it("read of nothing says so and exits 2", async () => {
    expect(await runLatchkey(["read", "cubbyhole/none"], { env: fake.env })).toEqual({
      code: 2,
      stdout: "",
      stderr: "No value found at cubbyhole/none\n",
    });
  });

  it("write sends key=value, @file and stdin values", async () => {
    fake.server.on("PUT", "cubbyhole/app", { status: 204 });
    const file = join(fake.home, "ca.pem");
    await writeFile(file, "PEM\n");
    const result = await runLatchkey(["write", "/cubbyhole/app", "a=1", `ca=@${file}`, "pw=-"], { env: fake.env, stdin: "from-stdin" });
    expect(result).toEqual({ code: 0, stdout: "Success! Data written to: cubbyhole/app\n", stderr: "" });
    expect(fake.server.requests[0].body).toEqual({ a: "1", ca: "PEM\n", pw: "from-stdin" });
  });

  it("write of a lone - sends the JSON object from stdin", async () => {
    fake.server.on("PUT", "auth/kubernetes/role/demo", { status: 204 });
    await runLatchkey(["write", "auth/kubernetes/role/demo", "-"], { env: fake.env, stdin: '{"bound_service_account_names": ["app"], "ttl": 600}' });
    expect(fake.server.requests[0].body).toEqual({ bound_service_account_names: ["app"], ttl: 600 });
  });

  it("write prints the response when it carries data", async () => {
    fake.server.on("PUT", "auth/token/create", {
      body: { auth: { client_token: "lks.child", accessor: "acc", policies: ["default"], lease_duration: 60, renewable: true } },
    });
    const result = await runLatchkey(["write", "-field=token", "auth/token/create", "ttl=1m"], { env: fake.env });
    expect(result.stdout).toBe("lks.child");
  });

  it("write without data needs -force", async () => {
    const refused = await runLatchkey(["write", "sys/rotate"], { env: fake.env });
    expect(refused).toEqual({ code: 2, stdout: "", stderr: "Must supply data or use -force\n" });
    fake.server.on("PUT", "sys/rotate", { status: 204 });
    expect((await runLatchkey(["write", "-force", "sys/rotate"], { env: fake.env })).code).toBe(0);
    expect(fake.server.requests[0].body).toEqual({});
  });

  it("write rejects malformed pairs with exit code 2", async () => {
    const result = await runLatchkey(["write", "cubbyhole/app", "oops"], { env: fake.env });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('invalid key/value pair "oops"');
    expect(fake.server.requests).toHaveLength(0);
  });

  it("write shows server warnings on stderr", async () => {
    fake.server.on("PUT", "cubbyhole/app", { body: { data: null, warnings: ["field x ignored"] } });
    const result = await runLatchkey(["write", "cubbyhole/app", "x=1"], { env: fake.env });
    expect(result.stdout).toBe("Success! Data written to: cubbyhole/app\n");
    expect(result.stderr).toContain("  * field x ignored");
  });

  it("server errors print the action, status and messages, exit 1", async () => {
    fake.server.on("PUT", "secret/data/app", { status: 403, body: { errors: ["permission denied"] } });
    const result = await runLatchkey(["write", "secret/data/app", "a=1"], { env: fake.env });
    expect(result.code).toBe(1);
    expect(result.stdout).toBe("");
    expect(result.stderr).toBe(
      [
        "Error writing data to secret/data/app: Error making API request.",
        "",
        `URL: PUT ${fake.server.address}/v1/secret/data/app`,
        "Code: 403. Errors:",
        "",
        "* permission denied",
        "",
      ].join("\n"),
    );
    expect(result.stderr).not.toContain("lks.root");
  });

  it("list prints a Keys column, or the array as JSON", async () => {
    fake.server.on("GET", "secret/metadata", { body: { data: { keys: ["app", "team/"] } } });
    expect(await runLatchkey(["list", "secret/metadata/"], { env: fake.env })).toEqual({ code: 0, stdout: "Keys\n----\napp\nteam/\n", stderr: "" });
    expect(fake.server.requests[0].query.get("list")).toBe("true");
    const json = await runLatchkey(["list", "-format=json", "secret/metadata"], { env: fake.env });
    expect(JSON.parse(json.stdout)).toEqual(["app", "team/"]);
  });

  it("list of nothing exits 2", async () => {
    const result = await runLatchkey(["list", "secret/metadata/none"], { env: fake.env });
    expect(result).toEqual({ code: 2, stdout: "", stderr: "No value found at secret/metadata/none\n" });
  });

  it("delete sends DELETE with query parameters", async () => {
    fake.server.on("DELETE", "cubbyhole/app", { status: 204 });
    const result = await runLatchkey(["delete", "cubbyhole/app", "force=true"], { env: fake.env });
    expect(result).toEqual({ code: 0, stdout: "Success! Data deleted (if it existed) at: cubbyhole/app\n", stderr: "" });
    expect(fake.server.requests[0].query.get("force")).toBe("true");
  });
});
