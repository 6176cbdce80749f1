import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { devServer, type DevServer } from "../helpers/server.js";

/**
 * KV version 1 and KV version 2 subkeys through the HTTP API. The v1 mounts
 * are enabled through the mount table, as sys/mounts does for
 * `{"type": "kv", "options": {"version": "1"}}`.
 */
let s: DevServer;
beforeEach(async () => {
  s = await devServer();
  await s.core.services.mounts.enable("mounts", "kv1", { type: "kv", options: { version: "1" } });
});
afterEach(async () => {
  await s.close();
});

const VAULT_KV_V1_LEASE = 2_764_800;

describe("KV version 1", () => {
  it("writes with PUT and POST, reads in Vault's envelope with a lease duration but no lease", async () => {
    expect((await s.request("PUT", "kv1/app/db", { body: { user: "app", pass: "s3cret" } })).status).toBe(204);
    const read = await s.request("GET", "kv1/app/db");
    expect(read.status).toBe(200);
    expect(read.json).toMatchObject({
      lease_id: "",
      renewable: false,
      lease_duration: VAULT_KV_V1_LEASE,
      data: { user: "app", pass: "s3cret" },
      wrap_info: null,
      warnings: null,
      auth: null,
      mount_type: "kv",
    });
    expect((await s.request("POST", "kv1/app/db", { body: { only: "this" } })).status).toBe(204);
    expect((await s.request("GET", "kv1/app/db")).json.data).toEqual({ only: "this" });
  });

  it("registers no lease for a read", async () => {
    await s.request("PUT", "kv1/app", { body: { a: "1", ttl: "1h" } });
    expect((await s.request("GET", "kv1/app")).json).toMatchObject({ lease_id: "", lease_duration: 3600, data: { a: "1", ttl: "1h" } });
    expect((await s.request("LIST", "sys/leases/lookup/kv1/")).json.data).toMatchObject({ keys: [] });
  });

  it("answers a missing secret with 404 and no message", async () => {
    const res = await s.request("GET", "kv1/nope");
    expect(res.status).toBe(404);
    expect(res.json).toEqual({ errors: [] });
  });

  it("refuses an empty write", async () => {
    const res = await s.request("PUT", "kv1/app", { body: {} });
    expect(res.status).toBe(400);
    expect(res.json).toEqual({ errors: ["missing data fields"] });
  });

  it("refuses a ttl that does not parse", async () => {
    const res = await s.request("PUT", "kv1/app", { body: { a: "1", ttl: "soon" } });
    expect(res.status).toBe(400);
    expect(res.json.errors).toEqual(['field "ttl" must be a duration such as "30s", "5m", "1h" or a number of seconds']);
  });

  it("deletes with 204, also when the secret is missing", async () => {
    await s.request("PUT", "kv1/app", { body: { a: "1" } });
    expect((await s.request("DELETE", "kv1/app")).status).toBe(204);
    expect((await s.request("GET", "kv1/app")).status).toBe(404);
    expect((await s.request("DELETE", "kv1/app")).status).toBe(204);
  });

  it("lists the root and folders with LIST", async () => {
    for (const path of ["team/a", "team/b/c", "top"]) await s.request("PUT", `kv1/${path}`, { body: { v: path } });
    expect((await s.request("LIST", "kv1/")).json.data).toEqual({ keys: ["team/", "top"] });
    expect((await s.request("LIST", "kv1")).json.data).toEqual({ keys: ["team/", "top"] });
    expect((await s.request("LIST", "kv1/team/")).json.data).toEqual({ keys: ["a", "b/"] });
    const empty = await s.request("LIST", "kv1/none/");
    expect(empty.status).toBe(404);
    expect(empty.json).toEqual({ errors: [] });
  });

  it("has no versioned paths: data/ is just a secret's name", async () => {
    await s.request("PUT", "kv1/data/x", { body: { a: "1" } });
    expect((await s.request("GET", "kv1/data/x")).json.data).toEqual({ a: "1" });
    expect((await s.request("PATCH", "kv1/data/x", { body: { a: "2" } })).status).toBe(405);
  });

  it("stores a secret in the mount's barrier view under data/<path>, no value in a key", async () => {
    await s.request("PUT", "kv1/team/app", { body: { password: "hunter2-value" } });
    const entry = s.core.services.mounts.list("mounts").find((e) => e.path === "kv1/");
    expect(await s.core.services.mounts.storageFor(entry!).getJSON("data/team/app")).toEqual({ password: "hunter2-value" });
    const keys = await s.core.barrier.view("").scan("");
    expect(keys).toContain(`logical/${entry!.uuid}/data/team/app`);
    expect(keys.join("\n")).not.toContain("hunter2");
  });

  it("is shown as version 1 by sys/mounts", async () => {
    const res = await s.request("GET", "sys/mounts");
    expect(res.json.data["kv1/"]).toMatchObject({ type: "kv", options: { version: "1" } });
  });

  it("mounts version 1 when the options name no version", async () => {
    await s.core.services.mounts.enable("mounts", "plain", { type: "kv" });
    await s.request("PUT", "plain/app", { body: { a: "1" } });
    expect((await s.request("GET", "plain/app")).json).toMatchObject({ data: { a: "1" }, lease_duration: VAULT_KV_V1_LEASE });
  });

  it("applies the ACL to the secret's path, create versus update by existence", async () => {
    await s.request("PUT", "sys/policies/acl/kv1-app", {
      body: {
        policy: `path "kv1/app/*" { capabilities = ["create", "read", "list"] }
path "kv1/ro" { capabilities = ["read"] }`,
      },
    });
    const token = (await s.request("POST", "auth/token/create", { body: { policies: ["kv1-app"] } })).json.auth.client_token;
    expect((await s.request("PUT", "kv1/app/x", { token, body: { a: "1" } })).status).toBe(204);
    // An existing secret needs update, which the policy does not grant.
    expect((await s.request("PUT", "kv1/app/x", { token, body: { a: "2" } })).status).toBe(403);
    expect((await s.request("GET", "kv1/app/x", { token })).json.data).toEqual({ a: "1" });
    expect((await s.request("LIST", "kv1/app/", { token })).json.data).toEqual({ keys: ["x"] });
    expect((await s.request("DELETE", "kv1/app/x", { token })).status).toBe(403);
    await s.request("PUT", "kv1/ro", { body: { a: "1" } });
    expect((await s.request("GET", "kv1/ro", { token })).status).toBe(200);
    expect((await s.request("PUT", "kv1/ro", { token, body: { a: "2" } })).status).toBe(403);
    expect((await s.request("GET", "kv1/other", { token })).status).toBe(403);
  });
});

describe("KV version 2 subkeys", () => {
  it("answers the key structure with null leaves and the version's metadata", async () => {
    await s.request("POST", "secret/data/app", { body: { data: { foo: "abc", bar: "def", baz: { quux: "ghi" } } } });
    const res = await s.request("GET", "secret/subkeys/app");
    expect(res.status).toBe(200);
    expect(res.json.data).toEqual({
      subkeys: { foo: null, bar: null, baz: { quux: null } },
      metadata: {
        created_time: expect.any(String),
        custom_metadata: null,
        deletion_time: "",
        destroyed: false,
        version: 1,
      },
    });
    expect(res.json.lease_duration).toBe(0);
  });

  it("honours version and depth in the query", async () => {
    await s.request("POST", "secret/data/app", { body: { data: { a: { b: "1" } } } });
    await s.request("POST", "secret/data/app", { body: { data: { c: "2" } } });
    expect((await s.request("GET", "secret/subkeys/app?version=1")).json.data.subkeys).toEqual({ a: { b: null } });
    expect((await s.request("GET", "secret/subkeys/app?version=1&depth=1")).json.data.subkeys).toEqual({ a: null });
    const bad = await s.request("GET", "secret/subkeys/app?depth=-1");
    expect(bad.status).toBe(400);
    expect(bad.json.errors).toEqual(['field "depth" must not be negative']);
  });

  it("answers 404 with the metadata for a deleted version, and a bare 404 for a missing secret", async () => {
    await s.request("POST", "secret/data/app", { body: { data: { a: "1" } } });
    await s.request("DELETE", "secret/data/app");
    const deleted = await s.request("GET", "secret/subkeys/app");
    expect(deleted.status).toBe(404);
    expect(deleted.json.data).toMatchObject({ subkeys: null, metadata: { version: 1, destroyed: false } });
    const missing = await s.request("GET", "secret/subkeys/nope");
    expect(missing.status).toBe(404);
    expect(missing.json).toEqual({ errors: [] });
  });

  it("is a path of its own in the ACL: shape without values", async () => {
    await s.request("PUT", "sys/policies/acl/shape", { body: { policy: 'path "secret/subkeys/*" { capabilities = ["read"] }' } });
    const token = (await s.request("POST", "auth/token/create", { body: { policies: ["shape"] } })).json.auth.client_token;
    await s.request("POST", "secret/data/app", { body: { data: { password: "x" } } });
    expect((await s.request("GET", "secret/subkeys/app", { token })).json.data.subkeys).toEqual({ password: null });
    expect((await s.request("GET", "secret/data/app", { token })).status).toBe(403);
  });
});
