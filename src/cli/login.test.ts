import { readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runLatchkey, useFakeLatchkey } from "./test-support.js";

const lookupSelf = {
  data: {
    id: "lks.mytoken",
    accessor: "acc-123",
    policies: ["default", "dev"],
    identity_policies: [],
    ttl: 3600,
    renewable: true,
    meta: { team: "payments" },
  },
};

describe("login", () => {
  const fake = useFakeLatchkey();
  const tokenFile = () => join(fake.home, ".latchkey-token");

  it("verifies the token, saves it with mode 0600 and shows who you are without the token", async () => {
    fake.server.on("GET", "auth/token/lookup-self", { body: lookupSelf });
    const result = await runLatchkey(["login", "lks.mytoken"], { env: fake.env });
    expect(result.code).toBe(0);
    expect(fake.server.requests[0].headers["x-vault-token"]).toBe("lks.mytoken");
    expect(await readFile(tokenFile(), "utf8")).toBe("lks.mytoken");
    expect((await stat(tokenFile())).mode & 0o777).toBe(0o600);
    expect(result.stdout).toContain("Success! You are now authenticated.");
    expect(result.stdout).toContain(`saved in ${tokenFile()}`);
    expect(result.stdout).toContain("token_accessor       acc-123");
    expect(result.stdout).toContain('token_policies       ["default" "dev"]');
    expect(result.stdout).toContain("token_duration       1h");
    expect(result.stdout).toContain("token_meta_team      payments");
    expect(result.stdout).not.toContain("lks.mytoken");
    expect(result.stderr).toBe("");
  });

  it("later commands use the saved token; LATCHKEY_TOKEN takes precedence", async () => {
    fake.server.on("GET", "auth/token/lookup-self", { body: lookupSelf });
    await runLatchkey(["login", "lks.mytoken"], { env: fake.env });
    await runLatchkey(["token", "lookup"], { env: fake.env });
    await runLatchkey(["token", "lookup"], { env: { ...fake.env, LATCHKEY_TOKEN: "lks.fromenv" } });
    expect(fake.server.requests.map((r) => r.headers["x-vault-token"])).toEqual(["lks.mytoken", "lks.mytoken", "lks.fromenv"]);
  });

  it("tightens the mode of an existing token file", async () => {
    await writeFile(tokenFile(), "old", { mode: 0o644 });
    fake.server.on("GET", "auth/token/lookup-self", { body: lookupSelf });
    await runLatchkey(["login", "lks.mytoken"], { env: fake.env });
    expect((await stat(tokenFile())).mode & 0o777).toBe(0o600);
  });

  it("reads the token from stdin when none is given", async () => {
    fake.server.on("GET", "auth/token/lookup-self", { body: lookupSelf });
    const result = await runLatchkey(["login"], { env: fake.env, stdin: "lks.mytoken\n" });
    expect(result.code).toBe(0);
    expect(await readFile(tokenFile(), "utf8")).toBe("lks.mytoken");
  });

  it("an invalid token is not saved and not echoed", async () => {
    fake.server.on("GET", "auth/token/lookup-self", { status: 403, body: { errors: ["permission denied"] } });
    const result = await runLatchkey(["login", "lks.wrong"], { env: fake.env });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^Error authenticating: Error making API request\./);
    expect(result.stderr).toContain("* permission denied");
    expect(result.stderr + result.stdout).not.toContain("lks.wrong");
    await expect(stat(tokenFile())).rejects.toThrow();
  });

  it("-no-store keeps the token file untouched; -field=token prints the token", async () => {
    fake.server.on("GET", "auth/token/lookup-self", { body: lookupSelf });
    const result = await runLatchkey(["login", "-no-store", "-field=token", "lks.mytoken"], { env: fake.env });
    expect(result).toEqual({ code: 0, stdout: "lks.mytoken", stderr: "" });
    await expect(stat(tokenFile())).rejects.toThrow();
  });

  it("-format=json leaves the token out", async () => {
    fake.server.on("GET", "auth/token/lookup-self", { body: lookupSelf });
    const result = await runLatchkey(["login", "-format=json", "lks.mytoken"], { env: fake.env });
    const shown: unknown = JSON.parse(result.stdout);
    expect(shown).toEqual({
      auth: {
        accessor: "acc-123",
        policies: ["default", "dev"],
        token_policies: ["default", "dev"],
        identity_policies: [],
        metadata: { team: "payments" },
        lease_duration: 3600,
        renewable: true,
      },
    });
  });

  it("-method logs in through an auth method with key=value data", async () => {
    fake.server.on("PUT", "auth/k8s/login", {
      body: { auth: { client_token: "lks.pod", accessor: "acc-pod", policies: ["app"], lease_duration: 600, renewable: true } },
    });
    const jwtFile = join(fake.home, "token");
    await writeFile(jwtFile, "eyJhbGciOi");
    const result = await runLatchkey(["login", "-method=kubernetes", "-path=k8s", "role=demo", `jwt=@${jwtFile}`], {
      env: { ...fake.env, LATCHKEY_TOKEN: "lks.old" },
    });
    expect(result.code).toBe(0);
    expect(fake.server.requests[0].body).toEqual({ role: "demo", jwt: "eyJhbGciOi" });
    expect(fake.server.requests[0].headers["x-vault-token"]).toBeUndefined();
    expect(await readFile(tokenFile(), "utf8")).toBe("lks.pod");
    expect(result.stdout).toContain("token_accessor       acc-pod");
    expect(result.stdout).not.toContain("lks.pod");
  });

  it("-method without a path uses the method type as mount", async () => {
    fake.server.on("PUT", "auth/kubernetes/login", { status: 403, body: { errors: ["permission denied: service account name not authorized"] } });
    const result = await runLatchkey(["login", "-method", "kubernetes", "role=demo", "jwt=x"], { env: fake.env });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("* permission denied: service account name not authorized");
  });

  it("takes at most one token", async () => {
    const result = await runLatchkey(["login", "a", "b"], { env: fake.env });
    expect(result.code).toBe(2);
  });
});
