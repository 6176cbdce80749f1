import { randomUUID } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { MountEntry } from "../../src/core/router.js";
import { createCubbyholeBackend } from "../../src/secrets/cubbyhole/index.js";
import { devServer, type DevServer } from "../helpers/server.js";

/**
 * The cubbyhole through the HTTP API. The core mounts it at `cubbyhole/`
 * itself; where this build does not yet, the test mounts it as the core would.
 */
let s: DevServer;
let cubbyhole: MountEntry;
beforeEach(async () => {
  s = await devServer();
  cubbyhole = s.core.router.get("cubbyhole/")?.entry ?? mountCubbyhole(s);
});
afterEach(async () => {
  await s.close();
});

function mountCubbyhole(server: DevServer): MountEntry {
  const entry: MountEntry = {
    path: "cubbyhole/",
    type: "cubbyhole",
    uuid: randomUUID(),
    accessor: "cubbyhole_test",
    description: "per-token private secret storage",
    options: {},
    config: { default_lease_ttl: 0, max_lease_ttl: 0 },
    local: true,
    seal_wrap: false,
    table: "mounts",
  };
  server.core.router.mount(entry, createCubbyholeBackend());
  return entry;
}

async function newToken(body: Record<string, unknown> = {}): Promise<string> {
  const res = await s.request("POST", "auth/token/create", { body: { policies: ["default"], ...body } });
  expect(res.status).toBe(200);
  return res.json.auth.client_token;
}

describe("cubbyhole", () => {
  it("writes, reads, lists and deletes a token's own secrets", async () => {
    const token = await newToken();
    expect((await s.request("PUT", "cubbyhole/app/db", { token, body: { pass: "s3cret" } })).status).toBe(204);
    const read = await s.request("GET", "cubbyhole/app/db", { token });
    expect(read.status).toBe(200);
    expect(read.json).toMatchObject({ lease_id: "", renewable: false, lease_duration: 0, data: { pass: "s3cret" }, mount_type: "cubbyhole" });
    expect((await s.request("LIST", "cubbyhole/", { token })).json.data).toEqual({ keys: ["app/"] });
    expect((await s.request("LIST", "cubbyhole/app", { token })).json.data).toEqual({ keys: ["db"] });
    expect((await s.request("POST", "cubbyhole/app/db", { token, body: { pass: "new" } })).status).toBe(204);
    expect((await s.request("GET", "cubbyhole/app/db", { token })).json.data).toEqual({ pass: "new" });
    expect((await s.request("DELETE", "cubbyhole/app/db", { token })).status).toBe(204);
    const gone = await s.request("GET", "cubbyhole/app/db", { token });
    expect(gone.status).toBe(404);
    expect(gone.json).toEqual({ errors: [] });
    expect((await s.request("LIST", "cubbyhole/", { token })).status).toBe(404);
  });

  it("keeps one token's secrets from every other token, root included", async () => {
    const alice = await newToken();
    const bob = await newToken();
    await s.request("PUT", "cubbyhole/note", { token: alice, body: { who: "alice" } });
    expect((await s.request("GET", "cubbyhole/note", { token: bob })).status).toBe(404);
    expect((await s.request("GET", "cubbyhole/note")).status).toBe(404);
    expect((await s.request("LIST", "cubbyhole/")).status).toBe(404);

    await s.request("PUT", "cubbyhole/note", { token: bob, body: { who: "bob" } });
    await s.request("PUT", "cubbyhole/note", { body: { who: "root" } });
    expect((await s.request("GET", "cubbyhole/note", { token: alice })).json.data).toEqual({ who: "alice" });
    expect((await s.request("GET", "cubbyhole/note", { token: bob })).json.data).toEqual({ who: "bob" });
    expect((await s.request("GET", "cubbyhole/note")).json.data).toEqual({ who: "root" });
    await s.request("DELETE", "cubbyhole/note", { token: bob });
    expect((await s.request("GET", "cubbyhole/note", { token: alice })).json.data).toEqual({ who: "alice" });
  });

  it("stores under the token's storage key, never the token", async () => {
    const token = await newToken();
    await s.request("PUT", "cubbyhole/x", { token, body: { v: "hunter2-value" } });
    const key = (await s.core.services.tokens.lookup(token))?.key;
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    const keys = await s.core.barrier.view(`logical/${cubbyhole.uuid}/`).scan("");
    expect(keys).toEqual([`${key}/x`]);
    expect(keys.join("\n")).not.toContain(token);
    expect(keys.join("\n")).not.toContain(token.replace(/^lks\./, ""));
  });

  it("refuses batch tokens after the ACL check", async () => {
    const batch = await newToken({ type: "batch" });
    const res = await s.request("PUT", "cubbyhole/x", { token: batch, body: { a: "1" } });
    expect(res.status).toBe(400);
    expect(res.json).toEqual({ errors: ['cubbyhole operations are only supported by "service" type tokens'] });
    expect((await s.request("GET", "cubbyhole/x", { token: batch })).status).toBe(400);
    expect((await s.request("LIST", "cubbyhole/", { token: batch })).status).toBe(400);

    await s.request("PUT", "sys/policies/acl/nothing", { body: { policy: 'path "secret/*" { capabilities = ["read"] }' } });
    const bare = await newToken({ type: "batch", policies: ["nothing"], no_default_policy: true });
    expect((await s.request("GET", "cubbyhole/x", { token: bare })).status).toBe(403);
  });

  it("is governed by the ACL: the default policy grants it, without it a token is denied", async () => {
    await s.request("PUT", "sys/policies/acl/nothing", { body: { policy: 'path "secret/*" { capabilities = ["read"] }' } });
    const bare = await newToken({ policies: ["nothing"], no_default_policy: true });
    expect((await s.request("PUT", "cubbyhole/x", { token: bare, body: { a: "1" } })).status).toBe(403);
    expect((await s.request("LIST", "cubbyhole/", { token: bare })).status).toBe(403);
  });

  it("refuses an empty write and bad paths", async () => {
    const token = await newToken();
    expect((await s.request("PUT", "cubbyhole/x", { token, body: {} })).json).toEqual({ errors: ["missing data fields"] });
    const slash = await s.request("PUT", "cubbyhole/x/", { token, body: { a: "1" } });
    expect(slash.status).toBe(400);
    expect(slash.json.errors).toEqual(['path "x/" must not end with "/"']);
  });
});
