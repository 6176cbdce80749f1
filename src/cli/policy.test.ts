import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runLatchkey, useFakeLatchkey } from "./test-support.js";

const hcl = 'path "secret/data/{{token.metadata.namespace}}/*" {\n  capabilities = ["read"]\n}\n';

describe("policy", () => {
  const fake = useFakeLatchkey({ token: "lks.root" });

  it("write uploads a file", async () => {
    fake.server.on("PUT", "sys/policies/acl/ns-read", { status: 204 });
    const file = join(fake.home, "ns-read.hcl");
    await writeFile(file, hcl);
    expect(await runLatchkey(["policy", "write", "ns-read", file], { env: fake.env })).toEqual({
      code: 0,
      stdout: "Success! Uploaded policy: ns-read\n",
      stderr: "",
    });
    expect(fake.server.requests[0].body).toEqual({ policy: hcl });
  });

  it("write reads stdin for -", async () => {
    fake.server.on("PUT", "sys/policies/acl/ns-read", { status: 204 });
    await runLatchkey(["policy", "write", "ns-read", "-"], { env: fake.env, stdin: hcl });
    expect(fake.server.requests[0].body).toEqual({ policy: hcl });
  });

  it("write shows the server's parse error", async () => {
    fake.server.on("PUT", "sys/policies/acl/bad", { status: 400, body: { errors: ['failed to parse policy: unknown capability "reed"'] } });
    const result = await runLatchkey(["policy", "write", "bad", "-"], { env: fake.env, stdin: "path {}" });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('Error uploading policy bad: Error making API request.');
    expect(result.stderr).toContain('Code: 400. Errors:\n\n* failed to parse policy: unknown capability "reed"\n');
  });

  it("write of a missing file or empty policy is a usage error", async () => {
    expect((await runLatchkey(["policy", "write", "x", join(fake.home, "none.hcl")], { env: fake.env })).code).toBe(2);
    expect((await runLatchkey(["policy", "write", "x", "-"], { env: fake.env, stdin: "  \n" })).code).toBe(2);
    expect(fake.server.requests).toHaveLength(0);
  });

  it("read prints the policy text", async () => {
    fake.server.on("GET", "sys/policies/acl/ns-read", { body: { data: { name: "ns-read", policy: hcl } } });
    expect(await runLatchkey(["policy", "read", "ns-read"], { env: fake.env })).toEqual({ code: 0, stdout: hcl, stderr: "" });
    const json = await runLatchkey(["policy", "read", "-format=json", "ns-read"], { env: fake.env });
    expect(JSON.parse(json.stdout)).toEqual({ data: { name: "ns-read", policy: hcl } });
  });

  it("read of an unknown policy exits 2", async () => {
    expect(await runLatchkey(["policy", "read", "nope"], { env: fake.env })).toEqual({ code: 2, stdout: "", stderr: "No policy named: nope\n" });
  });

  it("list prints one name per line", async () => {
    fake.server.on("GET", "sys/policies/acl", { body: { data: { keys: ["default", "ns-read", "root"] } } });
    expect(await runLatchkey(["policy", "list"], { env: fake.env })).toEqual({ code: 0, stdout: "default\nns-read\nroot\n", stderr: "" });
    expect(fake.server.requests[0].query.get("list")).toBe("true");
    expect(JSON.parse((await runLatchkey(["policy", "list", "-format=json"], { env: fake.env })).stdout)).toEqual(["default", "ns-read", "root"]);
  });

  it("delete", async () => {
    fake.server.on("DELETE", "sys/policies/acl/ns-read", { status: 204 });
    expect(await runLatchkey(["policy", "delete", "ns-read"], { env: fake.env })).toEqual({
      code: 0,
      stdout: "Success! Deleted policy: ns-read\n",
      stderr: "",
    });
  });
});
