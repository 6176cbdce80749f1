import { describe, expect, it } from "vitest";
import { recordingLogger } from "../../auth/kubernetes/test-harness.js";
import { createMemoryStore } from "../../storage/memory.js";
import { createCore } from "../core.js";
import type { Backend } from "../types.js";

/** A secrets engine whose every read hands out a renewable leased secret. */
const leasingBackend = (): Backend => ({
  paths: [{ pattern: "lease", ops: { read: async () => ({ data: { n: 1 }, secret: { ttl: 600, renewable: true, internal: {} } }) } }],
  renew: async () => ({ ttl: 600 }),
});

const POLICY = `
path "leasing/lease" { capabilities = ["read"] }
path "sys/leases/revoke" { capabilities = ["update"] }
`;

async function setup() {
  const core = createCore({
    physical: createMemoryStore(),
    seal: { type: "shamir" },
    storageType: "memory",
    logger: recordingLogger(),
    backends: { mounts: { leasing: leasingBackend }, auth: {} },
  });
  const { rootToken } = await core.initialize({ secretShares: 1, secretThreshold: 1 });
  await core.services.mounts.enable("mounts", "leasing", { type: "leasing" });
  const call = (token: string, method: string, path: string, body: Record<string, unknown> = {}) =>
    core.handle({ method, path, query: {}, body, token, remoteAddress: "127.0.0.1" });
  await call(rootToken, "PUT", "sys/policies/acl/leaser", { policy: POLICY });
  const token = async (type: "service" | "batch") => {
    const res = await call(rootToken, "POST", "auth/token/create", { type, policies: ["leaser"], ttl: "1h" });
    return (res.body as { auth: { client_token: string } }).auth.client_token;
  };
  const leaseOf = async (owner: string) => ((await call(owner, "GET", "leasing/lease")).body as { lease_id: string }).lease_id;
  return { core, call, token, leaseOf };
}

describe("sys/leases and the token a secret was issued to", () => {
  it.each(["service", "batch"] as const)("shows a %s token its own lease and hides it from another token", async (type) => {
    const { core, call, token, leaseOf } = await setup();
    const owner = await token(type);
    const other = await token(type);
    const leaseId = await leaseOf(owner);
    expect((await call(owner, "PUT", "sys/leases/lookup", { lease_id: leaseId })).status).toBe(200);
    expect((await call(owner, "PUT", "sys/leases/renew", { lease_id: leaseId })).status).toBe(200);
    for (const id of [leaseId, `${leaseId}x`]) {
      expect(await call(other, "PUT", "sys/leases/lookup", { lease_id: id })).toEqual({ status: 400, body: { errors: ["invalid lease"] } });
      expect(await call(other, "PUT", "sys/leases/renew", { lease_id: id })).toEqual({ status: 400, body: { errors: ["lease not found"] } });
    }
    // Another's revoke answers 204, as for a lease it does not know, and revokes nothing; the owner's revokes.
    expect((await call(other, "PUT", "sys/leases/revoke", { lease_id: leaseId })).status).toBe(204);
    expect(await core.services.leases.lookup(leaseId)).toBeDefined();
    expect((await call(owner, "PUT", "sys/leases/revoke", { lease_id: leaseId })).status).toBe(204);
    expect(await core.services.leases.lookup(leaseId)).toBeUndefined();
    await core.close();
  });
});
