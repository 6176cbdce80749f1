import { describe, expect, it } from "vitest";
import { runLatchkey, useFakeLatchkey } from "./test-support.js";

const unsealed = {
  type: "shamir",
  initialized: true,
  sealed: false,
  t: 3,
  n: 5,
  progress: 0,
  nonce: "",
  version: "0.1.0",
  storage_type: "sqlite",
};
const sealed = { ...unsealed, sealed: true, progress: 1, nonce: "n-1" };

describe("status and operator", () => {
  const fake = useFakeLatchkey();

  it("status prints the seal status and exits 0 when unsealed", async () => {
    fake.server.on("GET", "sys/seal-status", { body: unsealed });
    expect(await runLatchkey(["status"], { env: fake.env })).toEqual({
      code: 0,
      stderr: "",
      stdout: [
        "Key             Value",
        "---             -----",
        "Seal Type       shamir",
        "Initialized     true",
        "Sealed          false",
        "Total Shares    5",
        "Threshold       3",
        "Version         0.1.0",
        "Storage Type    sqlite",
        "",
      ].join("\n"),
    });
  });

  it("status exits 2 when sealed and shows the unseal progress", async () => {
    fake.server.on("GET", "sys/seal-status", { body: sealed });
    const result = await runLatchkey(["status"], { env: fake.env });
    expect(result.code).toBe(2);
    expect(result.stdout).toContain("Unseal Progress    1/3\n");
    expect(result.stdout).toContain("Unseal Nonce       n-1\n");
  });

  it("status -format=json", async () => {
    fake.server.on("GET", "sys/seal-status", { body: unsealed });
    const result = await runLatchkey(["status", "-format=json"], { env: fake.env });
    expect(JSON.parse(result.stdout)).toEqual(unsealed);
  });

  it("status exits 1 when the server cannot be reached", async () => {
    const result = await runLatchkey(["status"], { env: { ...fake.env, LATCHKEY_ADDR: "http://127.0.0.1:9" } });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^Error checking seal status: could not connect to latchkey at http:\/\/127\.0\.0\.1:9: /);
  });

  it("operator init prints the keys and the root token", async () => {
    fake.server.on("PUT", "sys/init", {
      body: { keys: ["aa", "bb"], keys_base64: ["qg==", "uw=="], root_token: "lks.root" },
    });
    const result = await runLatchkey(["operator", "init", "-key-shares=2", "-key-threshold", "2"], { env: fake.env });
    expect(result.code).toBe(0);
    expect(fake.server.requests[0].body).toEqual({ secret_shares: 2, secret_threshold: 2 });
    expect(result.stdout).toMatch(/^Unseal Key 1: qg==\nUnseal Key 2: uw==\n\nInitial Root Token: lks\.root\n\nlatchkey initialized with 2 key shares/);
  });

  it("operator init defaults to 5 shares and threshold 3; -format=json", async () => {
    fake.server.on("PUT", "sys/init", { body: { keys: ["aa"], keys_base64: ["qg=="], root_token: "lks.root" } });
    const result = await runLatchkey(["operator", "init", "-format=json"], { env: fake.env });
    expect(fake.server.requests[0].body).toEqual({ secret_shares: 5, secret_threshold: 3 });
    expect(JSON.parse(result.stdout)).toEqual({
      unseal_keys_b64: ["qg=="],
      unseal_keys_hex: ["aa"],
      unseal_shares: 5,
      unseal_threshold: 3,
      root_token: "lks.root",
    });
  });

  it("operator init rejects a threshold above the shares", async () => {
    const result = await runLatchkey(["operator", "init", "-key-shares=2", "-key-threshold=3"], { env: fake.env });
    expect(result).toEqual({ code: 2, stdout: "", stderr: "-key-threshold must be between 1 and -key-shares\n" });
  });

  it("operator init -status exits 0 when initialized, 2 when not", async () => {
    fake.server.on("GET", "sys/init", { body: { initialized: false } });
    expect(await runLatchkey(["operator", "init", "-status"], { env: fake.env })).toEqual({
      code: 2,
      stdout: "latchkey is not initialized\n",
      stderr: "",
    });
  });

  it("operator init reports an already initialized server", async () => {
    fake.server.on("PUT", "sys/init", { status: 400, body: { errors: ["latchkey is already initialized"] } });
    const result = await runLatchkey(["operator", "init"], { env: fake.env });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("Error initializing: Error making API request.");
    expect(result.stderr).toContain("* latchkey is already initialized");
  });

  it("operator unseal sends the key from the argument and prints the status", async () => {
    fake.server.on("PUT", "sys/unseal", { body: sealed });
    const result = await runLatchkey(["operator", "unseal", "key-1"], { env: fake.env });
    expect(result.code).toBe(0);
    expect(fake.server.requests[0].body).toEqual({ key: "key-1" });
    expect(result.stdout).toContain("Unseal Progress    1/3");
  });

  it("operator unseal reads the key from stdin when not given", async () => {
    fake.server.on("PUT", "sys/unseal", { body: unsealed });
    const result = await runLatchkey(["operator", "unseal"], { env: fake.env, stdin: "key-2\n" });
    expect(result.code).toBe(0);
    expect(fake.server.requests[0].body).toEqual({ key: "key-2" });
    expect(result.stdout).toContain("Sealed          false");
    expect(result.stderr).toBe("");
  });

  it("operator unseal -reset", async () => {
    fake.server.on("PUT", "sys/unseal", { body: sealed });
    await runLatchkey(["operator", "unseal", "-reset"], { env: fake.env });
    expect(fake.server.requests[0].body).toEqual({ reset: true });
  });

  it("operator unseal with an empty key is a usage error", async () => {
    const result = await runLatchkey(["operator", "unseal"], { env: fake.env, stdin: "\n" });
    expect(result).toEqual({ code: 2, stdout: "", stderr: "No unseal key given\n" });
  });

  it("operator seal", async () => {
    fake.server.on("PUT", "sys/seal", { status: 204 });
    expect(await runLatchkey(["operator", "seal"], { env: { ...fake.env, LATCHKEY_TOKEN: "lks.root" } })).toEqual({
      code: 0,
      stdout: "Success! latchkey is sealed.\n",
      stderr: "",
    });
    expect(fake.server.requests[0].headers["x-vault-token"]).toBe("lks.root");
  });
});
