import { Agent } from "node:http";
import { afterAll, describe, expect, it } from "vitest";
import vault from "node-vault";
import { devServerForSuite } from "./dev-server.js";

const ROOT = "lks.node-vault-compat-root";

describe("node-vault (npm) against latchkey", () => {
  const suite = devServerForSuite(ROOT);
  // One keep-alive socket for every request: a LIST that leaves its socket
  // destroyed without `Connection: close` fails the request after it with
  // ECONNRESET / socket hang up.
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  // node-vault logs `debug(method, uri)` for every request it sends.
  const sent: string[] = [];
  const debug = (...args: unknown[]) => {
    const [method, uri] = args;
    if (typeof method === "string" && typeof uri === "string" && uri.startsWith("http")) sent.push(`${method} ${new URL(uri).pathname}`);
  };
  const client = (token = ROOT) =>
    vault({ apiVersion: "v1", endpoint: suite.server().address, token, debug, requestOptions: { httpAgent: agent } });
  afterAll(() => agent.destroy());

  it("mounts `kv` as KV version 1 and writes, reads, lists (LIST) and deletes a secret there", async () => {
    const root = client();
    await root.mount({ mount_point: "kv1", type: "kv" });
    const mounts = await root.mounts();
    expect(mounts["kv1/"]).toMatchObject({ type: "kv", options: { version: "1" } });
    expect(mounts.data["kv1/"]).toMatchObject({ type: "kv", options: { version: "1" } });

    await root.write("kv1/team/app", { user: "svc", password: "pw-1" });
    const read = await root.read("kv1/team/app");
    expect(read).toMatchObject({ data: { user: "svc", password: "pw-1" }, lease_id: "", renewable: false });
    const before = sent.length;
    const listed = await root.list("kv1/team");
    expect(sent.slice(before)).toEqual(["LIST /v1/kv1/team"]);
    expect(listed.data).toEqual({ keys: ["app"] });
    await root.delete("kv1/team/app");
    await expect(root.read("kv1/team/app")).rejects.toMatchObject({ response: { statusCode: 404, body: { errors: [] } } });
  });

  it("writes, reads, lists (LIST) and deletes a KV version 2 secret at secret/", async () => {
    const root = client();
    expect((await root.write("secret/data/compat/app", { data: { user: "svc" } })).data.version).toBe(1);
    expect((await root.write("secret/data/compat/app", { data: { user: "svc2" }, options: { cas: 1 } })).data.version).toBe(2);
    const read = await root.read("secret/data/compat/app");
    expect(read.data).toMatchObject({ data: { user: "svc2" }, metadata: { version: 2, destroyed: false } });
    const before = sent.length;
    expect((await root.list("secret/metadata/compat")).data).toEqual({ keys: ["app"] });
    expect((await root.list("secret/metadata/")).data).toEqual({ keys: ["compat/"] });
    expect(sent.slice(before)).toEqual(["LIST /v1/secret/metadata/compat", "LIST /v1/secret/metadata/"]);
    // Deleting secret/data/ is Vault's soft delete: a 404 that still carries the version's metadata.
    await root.delete("secret/data/compat/app");
    await expect(root.read("secret/data/compat/app")).rejects.toMatchObject({
      response: { statusCode: 404, body: { data: { data: null, metadata: { version: 2, deletion_time: expect.stringMatching(/^\d{4}-/) } } } },
    });
    await root.delete("secret/metadata/compat/app");
    await expect(root.read("secret/data/compat/app")).rejects.toMatchObject({ response: { statusCode: 404, body: { errors: [] } } });
    await expect(root.list("secret/metadata/compat")).rejects.toMatchObject({ response: { statusCode: 404, body: { errors: [] } } });
  });

  it("answers the request that follows a LIST on the same keep-alive agent, after a found and a missing path", async () => {
    const root = client();
    await root.write("secret/data/compat/next", { data: { a: "1" } });
    expect((await root.list("secret/metadata/compat")).data).toEqual({ keys: ["next"] });
    expect((await root.read("secret/data/compat/next")).data.data).toEqual({ a: "1" });
    await expect(root.list("secret/metadata/none-such")).rejects.toMatchObject({ response: { statusCode: 404 } });
    expect((await root.read("secret/data/compat/next")).data.data).toEqual({ a: "1" });
    await expect(client("lks.not-a-token").list("secret/metadata/compat")).rejects.toMatchObject({ response: { statusCode: 403 } });
    expect((await root.read("sys/health")).initialized).toBe(true);
  });

  it("creates a token, looks itself up, renews itself and is revoked", async () => {
    // node-vault switches a client to the token it creates.
    const creator = client();
    const created = await creator.tokenCreate({ policies: ["default"], ttl: "1h", meta: { team: "a" } });
    expect(created.auth).toMatchObject({ policies: ["default"], metadata: { team: "a" }, lease_duration: 3600, renewable: true });
    expect(creator.token).toBe(created.auth.client_token);

    const child = client(created.auth.client_token);
    const self = await child.tokenLookupSelf();
    expect(self.data).toMatchObject({
      id: created.auth.client_token,
      accessor: created.auth.accessor,
      policies: ["default"],
      ttl: expect.any(Number),
    });
    const renewed = await child.tokenRenewSelf({ increment: "2h" });
    expect(renewed.auth).toMatchObject({ client_token: created.auth.client_token, lease_duration: 7200 });
    await client().tokenRevoke({ token: created.auth.client_token });
    await expect(child.tokenLookupSelf()).rejects.toMatchObject({
      message: "permission denied: invalid token",
      response: { statusCode: 403, body: { errors: ["permission denied: invalid token"] } },
    });
  });

  it("adds, reads, lists and removes a policy, with node-vault's `rules` field", async () => {
    const root = client();
    const rules = JSON.stringify({ path: { "secret/data/compat/*": { capabilities: ["create", "read", "update"] } } });
    await root.addPolicy({ name: "compat-writer", rules });
    expect(await root.getPolicy({ name: "compat-writer" })).toMatchObject({ name: "compat-writer", rules, data: { rules } });
    expect((await root.policies()).policies).toEqual(["compat-writer", "default", "root"]);

    const writer = client((await client().tokenCreate({ policies: ["compat-writer"] })).auth.client_token);
    await writer.write("secret/data/compat/by-policy", { data: { a: "b" } });
    await expect(writer.read("secret/data/other")).rejects.toMatchObject({ response: { statusCode: 403 } });

    await root.removePolicy({ name: "compat-writer" });
    expect((await root.policies()).policies).toEqual(["default", "root"]);
    await expect(root.getPolicy({ name: "compat-writer" })).rejects.toMatchObject({ response: { statusCode: 404 } });
  });

  it("lists, looks up and revokes a token's lease; renewing a token lease is refused as Vault refuses it", async () => {
    const root = client();
    const token = (await client().tokenCreate({ policies: ["default"], ttl: "30m" })).auth.client_token;
    const before = sent.length;
    const { keys } = (await root.list("sys/leases/lookup/auth/token/create")).data;
    expect(sent.slice(before)).toEqual(["LIST /v1/sys/leases/lookup/auth/token/create"]);
    const leases = await Promise.all(
      keys.map((k: string) => root.write("sys/leases/lookup", { lease_id: `auth/token/create/${k}` })),
    );
    // The 30-minute token is the one lease this test created with that TTL.
    const mine = leases.map((l) => l.data).filter((d) => Math.abs(d.ttl - 1800) < 60);
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({ id: expect.stringMatching(/^auth\/token\/create\//), renewable: true, last_renewal: null });
    // Vault's lease lookup reports whole seconds (an int64), at most the lease's TTL.
    expect.soft(mine[0].ttl).toBe(Math.trunc(mine[0].ttl));
    expect.soft(mine[0].ttl).toBeLessThanOrEqual(1800);

    await expect(root.renew({ lease_id: mine[0].id, increment: 600 })).rejects.toMatchObject({
      response: { statusCode: 400, body: { errors: ["tokens cannot be renewed through this endpoint"] } },
    });
    await root.revoke({ lease_id: mine[0].id });
    await expect(client(token).tokenLookupSelf()).rejects.toMatchObject({ response: { statusCode: 403 } });
    // Revoking is idempotent in Vault: a lease it does not know is a 204.
    await root.revoke({ lease_id: "secret/data/none/such-lease" });
  });

  it("wraps with X-Vault-Wrap-TTL, looks the wrapping token up, and unwraps it exactly once", async () => {
    const root = client();
    await root.write("secret/data/compat/wrapped", { data: { k: "v" } });
    const wrapped = await root.read("secret/data/compat/wrapped", { headers: { "X-Vault-Wrap-TTL": "60s" } });
    expect(wrapped).toMatchObject({
      data: null,
      wrap_info: { token: expect.any(String), accessor: expect.any(String), ttl: 60, creation_path: "secret/data/compat/wrapped" },
    });
    const lookup = await root.write("sys/wrapping/lookup", { token: wrapped.wrap_info.token });
    expect(lookup.data).toMatchObject({ creation_path: "secret/data/compat/wrapped", creation_ttl: 60 });
    expect((await root.unwrap({ token: wrapped.wrap_info.token })).data).toMatchObject({ data: { k: "v" } });
    await expect(root.unwrap({ token: wrapped.wrap_info.token })).rejects.toMatchObject({ response: { statusCode: 400 } });

    // sys/wrapping/wrap wraps arbitrary data; the wrapping token unwraps itself as the client token.
    const own = await root.write("sys/wrapping/wrap", { hello: "world" }, { headers: { "X-Vault-Wrap-TTL": "5m" } });
    expect(own.wrap_info).toMatchObject({ ttl: 300, creation_path: "sys/wrapping/wrap" });
    expect((await client(own.wrap_info.token).unwrap()).data).toEqual({ hello: "world" });

    // A wrapped token creation: the new token comes back only through unwrap.
    const creator = client();
    const wrappedToken = await creator.tokenCreate({ policies: ["default"], requestOptions: { headers: { "X-Vault-Wrap-TTL": "5m" } } });
    expect(wrappedToken).toMatchObject({
      auth: null,
      wrap_info: { ttl: 300, creation_path: "auth/token/create", wrapped_accessor: expect.any(String) },
    });
    const unwrapped = await root.unwrap({ token: wrappedToken.wrap_info.token });
    expect(unwrapped.auth).toMatchObject({ accessor: wrappedToken.wrap_info.wrapped_accessor, policies: ["default"] });
    expect((await client(unwrapped.auth.client_token).tokenLookupSelf()).data.policies).toEqual(["default"]);
  });

  it("reads health and seal status", async () => {
    const root = client();
    expect(await root.health()).toMatchObject({ initialized: true, sealed: false, standby: false, version: expect.any(String) });
    // node-vault passes sys/health's status codes through as answers.
    expect(await root.health({ standbyok: true, activecode: 299 })).toMatchObject({ initialized: true, sealed: false });
    expect(await root.status()).toMatchObject({
      sealed: false,
      t: 1,
      n: 1,
      progress: 0,
      type: "shamir",
      initialized: true,
      build_date: expect.any(String),
      cluster_name: expect.any(String),
      cluster_id: expect.any(String),
    });
  });
});
