import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { devServer, type DevServer } from "../helpers/server.js";

/**
 * How KV versions and the cubbyhole are mounted: `sys/mounts` choosing the KV
 * version, the cubbyhole the core mounts itself, and a token's cubbyhole
 * destroyed with the token.
 */
let s: DevServer;
beforeEach(async () => {
  s = await devServer();
});
afterEach(async () => {
  await s.close();
});

describe("sys/mounts and the KV version", () => {
  it("mounts version 1 for a plain kv, and shows it", async () => {
    expect((await s.request("POST", "sys/mounts/plain", { body: { type: "kv" } })).status).toBe(204);
    expect((await s.request("GET", "sys/mounts")).json.data["plain/"]).toMatchObject({ type: "kv", options: { version: "1" } });
    await s.request("PUT", "plain/app", { body: { a: "1" } });
    expect((await s.request("GET", "plain/app")).json).toMatchObject({ data: { a: "1" }, lease_duration: 2_764_800 });
  });

  it("mounts version 2 when options.version says so, or for kv-v2", async () => {
    for (const [path, body] of [
      ["two", { type: "kv", options: { version: "2" } }],
      ["two-num", { type: "kv", options: { version: 2 } }],
      ["alias", { type: "kv-v2" }],
    ] as const) {
      expect((await s.request("POST", `sys/mounts/${path}`, { body })).status).toBe(204);
      expect((await s.request("GET", `sys/mounts/${path}`)).json.data).toMatchObject({ type: "kv", options: { version: "2" } });
      expect((await s.request("POST", `${path}/data/app`, { body: { data: { a: "1" } } })).json.data.version).toBe(1);
    }
  });

  it("mounts version 1 for kv-v1 and for options.version 1", async () => {
    await s.request("POST", "sys/mounts/one", { body: { type: "kv-v1" } });
    await s.request("POST", "sys/mounts/uno", { body: { type: "kv", options: { version: "1" } } });
    for (const path of ["one", "uno"]) {
      expect((await s.request("GET", `sys/mounts/${path}`)).json.data).toMatchObject({ type: "kv", options: { version: "1" } });
      await s.request("PUT", `${path}/data/app`, { body: { a: "1" } });
      expect((await s.request("GET", `${path}/data/app`)).json.data).toEqual({ a: "1" });
    }
  });

  it("refuses an unknown version and mounts nothing", async () => {
    const res = await s.request("POST", "sys/mounts/bad", { body: { type: "kv", options: { version: "3" } } });
    expect(res.status).toBe(400);
    expect(res.json.errors).toEqual(['field "options.version" must be "1" or "2", not "3"']);
    expect((await s.request("GET", "sys/mounts")).json.data["bad/"]).toBeUndefined();
  });

  it("gives version 1 reads the mount's tuned default lease TTL", async () => {
    await s.request("POST", "sys/mounts/plain", { body: { type: "kv" } });
    await s.request("PUT", "plain/app", { body: { a: "1" } });
    await s.request("POST", "sys/mounts/plain/tune", { body: { default_lease_ttl: "1h" } });
    expect((await s.request("GET", "plain/app")).json.lease_duration).toBe(3600);
  });

  it("refuses a tune that changes the version, either way", async () => {
    await s.request("POST", "sys/mounts/plain", { body: { type: "kv" } });
    const up = await s.request("POST", "sys/mounts/plain/tune", { body: { options: { version: "2" } } });
    expect(up.status).toBe(400);
    expect(up.json.errors).toEqual([
      "upgrading a kv mount from version 1 to version 2 is not supported; mount a version 2 engine and copy the secrets",
    ]);
    const down = await s.request("POST", "sys/mounts/secret/tune", { body: { options: { version: "1" } } });
    expect(down.status).toBe(400);
    expect(down.json.errors).toEqual(["cannot downgrade a kv mount from version 2 to version 1"]);
    expect((await s.request("GET", "sys/mounts/plain")).json.data.options).toEqual({ version: "1" });
  });
});

describe("the cubbyhole mount", () => {
  it("is mounted at cubbyhole/ by the core", async () => {
    expect((await s.request("GET", "sys/mounts")).json.data["cubbyhole/"]).toMatchObject({ type: "cubbyhole" });
    await s.request("PUT", "cubbyhole/x", { body: { a: "1" } });
    expect((await s.request("GET", "cubbyhole/x")).json.data).toEqual({ a: "1" });
  });

  it("can be neither mounted elsewhere nor disabled", async () => {
    expect((await s.request("POST", "sys/mounts/other", { body: { type: "cubbyhole" } })).status).toBe(400);
    expect((await s.request("DELETE", "sys/mounts/cubbyhole")).status).toBe(400);
    expect((await s.request("GET", "sys/mounts")).json.data["cubbyhole/"]).toBeDefined();
  });

  it("destroys a token's cubbyhole with the token, and only that one", async () => {
    const create = async () => (await s.request("POST", "auth/token/create", { body: { policies: ["default"] } })).json.auth.client_token;
    const doomed: string = await create();
    const kept: string = await create();
    for (const path of ["a", "b/c", "b/d/e"]) await s.request("PUT", `cubbyhole/${path}`, { token: doomed, body: { v: path } });
    await s.request("PUT", "cubbyhole/a", { token: kept, body: { v: "kept" } });
    const doomedKey = (await s.core.services.tokens.lookup(doomed))?.key;
    expect((await s.request("POST", "auth/token/revoke", { body: { token: doomed } })).status).toBe(204);

    const entry = s.core.router.get("cubbyhole/")!.entry;
    const keys = await s.core.services.mounts.storageFor(entry).scan("");
    expect(keys.some((k) => k.startsWith(`${doomedKey}/`))).toBe(false);
    expect((await s.request("GET", "cubbyhole/a", { token: kept })).json.data).toEqual({ v: "kept" });
  });

  it("destroys the cubbyholes of a revoked token's children", async () => {
    await s.request("PUT", "sys/policies/acl/creator", {
      body: { policy: 'path "auth/token/create" { capabilities = ["create", "update"] }' },
    });
    const parent: string = (await s.request("POST", "auth/token/create", { body: { policies: ["creator"] } })).json.auth.client_token;
    const child: string = (await s.request("POST", "auth/token/create", { token: parent, body: { policies: ["default"] } })).json.auth
      .client_token;
    expect((await s.request("PUT", "cubbyhole/x", { token: child, body: { v: "1" } })).status).toBe(204);
    await s.request("POST", "auth/token/revoke-self", { token: parent });
    const entry = s.core.router.get("cubbyhole/")!.entry;
    expect(await s.core.services.mounts.storageFor(entry).scan("")).toEqual([]);
  });
});
