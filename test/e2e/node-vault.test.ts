import { afterAll, beforeAll, describe, expect, it } from "vitest";
import vault from "node-vault";
import { startServerProcess, type ServerProcess } from "../helpers/process.js";

const ROOT = "lks.node-vault-root";

describe("a real Vault client (node-vault) against latchkey", () => {
  let server: ServerProcess;
  let client: ReturnType<typeof vault>;

  beforeAll(async () => {
    server = await startServerProcess(["--dev", "--dev-root-token", ROOT, "--listen", "127.0.0.1:0"]);
    client = vault({ apiVersion: "v1", endpoint: server.address, token: ROOT });
  });
  afterAll(async () => {
    await server.stop();
  });

  it("writes and reads a KV v2 secret", async () => {
    const written = await client.write("secret/data/node-vault/app", { data: { user: "svc", password: "pw-123" } });
    expect(written.data.version).toBe(1);
    const read = await client.read("secret/data/node-vault/app");
    expect(read.data.data).toEqual({ user: "svc", password: "pw-123" });
    expect(read.data.metadata.version).toBe(1);
  });

  it("creates and looks up a token", async () => {
    // node-vault switches a client to the token it creates, as with its logins.
    const creator = vault({ apiVersion: "v1", endpoint: server.address, token: ROOT });
    const created = await creator.tokenCreate({ policies: ["default"], ttl: "1h", meta: { team: "a" } });
    expect(created.auth.client_token).toMatch(/^lks\./);
    expect(creator.token).toBe(created.auth.client_token);
    const looked = await client.tokenLookup({ token: created.auth.client_token });
    expect(looked.data.policies).toEqual(["default"]);
    expect(looked.data.meta).toEqual({ team: "a" });
    const self = await vault({ apiVersion: "v1", endpoint: server.address, token: created.auth.client_token }).tokenLookupSelf();
    expect(self.data.accessor).toBe(created.auth.accessor);
  });

  it("reports health", async () => {
    const health = await client.health();
    expect(health).toMatchObject({ initialized: true, sealed: false });
  });

  it("gets Vault-shaped errors", async () => {
    const denied = vault({ apiVersion: "v1", endpoint: server.address, token: "lks.not-a-token" });
    await expect(denied.read("secret/data/node-vault/app")).rejects.toMatchObject({
      message: "permission denied: invalid token",
      response: { statusCode: 403, body: { errors: ["permission denied: invalid token"] } },
    });
    await expect(client.read("secret/data/node-vault/missing")).rejects.toMatchObject({ response: { statusCode: 404 } });
    await expect(client.write("secret/data/node-vault/app", { data: { a: "b" }, options: { cas: 99 } })).rejects.toMatchObject({
      response: { statusCode: 400 },
    });
  });
});
