/**
 * sys/leases/lookup, renew and revoke act only on the caller's own leases
 * (or any, with sudo): another token's lease answers exactly as a missing
 * one, so a lease id is no oracle for what another tenant holds.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { devServer, type DevServer } from "../helpers/server.js";

let s: DevServer;

/** A token with `policies` and the id of its login lease. */
async function tokenWithLease(policies: string[]): Promise<{ token: string; leaseId: string }> {
  const before = ((await s.request("LIST", "sys/leases/lookup/auth/token/create")).json.data?.keys as string[] | undefined) ?? [];
  const created = await s.request("POST", "auth/token/create", { body: { policies, ttl: "1h" } });
  expect(created.status, created.text).toBe(200);
  const after = (await s.request("LIST", "sys/leases/lookup/auth/token/create")).json.data.keys as string[];
  const added = after.filter((k) => !before.includes(k));
  expect(added).toHaveLength(1);
  return { token: created.json.auth.client_token, leaseId: `auth/token/create/${added[0]}` };
}

/** Status and body, without the request id. */
async function answer(token: string, path: string, leaseId: string) {
  const res = await s.request("PUT", path, { token, body: { lease_id: leaseId } });
  const { request_id: _id, ...body } = res.json;
  return { status: res.status, body };
}

beforeAll(async () => {
  s = await devServer();
  for (const [name, policy] of [
    ["revoker", 'path "sys/leases/revoke" { capabilities = ["update"] }'],
    // Exact paths: default's exact sys/leases/lookup would outrank a glob (and merges with this one).
    ["lease-admin", 'path "sys/leases/lookup" { capabilities = ["update", "sudo"] }\npath "sys/leases/revoke" { capabilities = ["update", "sudo"] }'],
  ]) {
    expect((await s.request("PUT", `sys/policies/acl/${name}`, { body: { policy } })).status).toBe(204);
  }
});
afterAll(() => s?.close());

describe("leases belong to the token they were given to", () => {
  it("looks up the caller's own lease; another's answers as a missing one", async () => {
    const owner = await tokenWithLease(["default"]);
    const other = await tokenWithLease(["default"]);
    const own = await answer(owner.token, "sys/leases/lookup", owner.leaseId);
    expect(own.status).toBe(200);
    expect(own.body.data.id).toBe(owner.leaseId);
    const missing = `${owner.leaseId.slice(0, -4)}zzzz`;
    for (const id of [owner.leaseId, missing]) {
      expect(await answer(other.token, "sys/leases/lookup", id)).toEqual({ status: 400, body: { errors: ["invalid lease"] } });
    }
  });

  it("renews only the caller's own lease; another's answers as a missing one", async () => {
    const owner = await tokenWithLease(["default"]);
    const other = await tokenWithLease(["default"]);
    // A login lease is renewed through auth/token/renew, as in Vault; what matters is that its owner is told so.
    expect(await answer(owner.token, "sys/leases/renew", owner.leaseId)).toEqual({
      status: 400,
      body: { errors: ["tokens cannot be renewed through this endpoint"] },
    });
    for (const path of ["sys/leases/renew", "sys/renew"]) {
      for (const id of [owner.leaseId, `${owner.leaseId}x`]) {
        expect(await answer(other.token, path, id)).toEqual({ status: 400, body: { errors: ["lease not found"] } });
      }
    }
  });

  it("revokes only the caller's own lease without sudo; with sudo, any", async () => {
    const owner = await tokenWithLease(["default"]);
    const revoker = await tokenWithLease(["revoker"]);
    expect((await answer(revoker.token, "sys/leases/revoke", owner.leaseId)).status).toBe(204);
    expect((await s.request("GET", "auth/token/lookup-self", { token: owner.token })).status).toBe(200);
    expect((await answer(revoker.token, "sys/leases/revoke", revoker.leaseId)).status).toBe(204);
    expect((await s.request("GET", "auth/token/lookup-self", { token: revoker.token })).status).toBe(403);

    const admin = await tokenWithLease(["lease-admin"]);
    expect((await answer(admin.token, "sys/leases/lookup", owner.leaseId)).body.data.id).toBe(owner.leaseId);
    expect((await answer(admin.token, "sys/leases/revoke", owner.leaseId)).status).toBe(204);
    expect((await s.request("GET", "auth/token/lookup-self", { token: owner.token })).status).toBe(403);
  });
});
