import { badRequest } from "../errors.js";
import { parseDuration } from "../tokens/duration.js";
import type { LeaseEntry, LogicalRequest, PathDef } from "../types.js";
import type { SysCore } from "./backend.js";

const iso = (unixSeconds: number | undefined) => (unixSeconds ? new Date(unixSeconds * 1000).toISOString() : null);

function leaseId(req: LogicalRequest): string {
  const id = req.data.lease_id ?? req.params.lease_id;
  if (typeof id !== "string" || id === "") throw badRequest('missing required field "lease_id"');
  return id;
}

/** Whole seconds a lease has left, as Vault's int64 `ttl`. */
const secondsLeft = (lease: LeaseEntry) => Math.max(0, Math.floor(lease.expireTime - Date.now() / 1000));

export function describeLease(lease: LeaseEntry) {
  return {
    id: lease.leaseId,
    issue_time: iso(lease.issueTime),
    expire_time: iso(lease.expireTime),
    last_renewal: iso(lease.lastRenewalTime),
    renewable: lease.renewable,
    ttl: secondsLeft(lease),
  };
}

/** sys/leases/*: lookup, renew, revoke, revoke-prefix, revoke-force (and Vault's older sys/renew, sys/revoke, sys/revoke-prefix, sys/revoke-force). */
export function leasePaths(core: SysCore): PathDef[] {
  const leases = () => core.services.leases;
  const renew = async (req: LogicalRequest) => {
    const increment = req.data.increment === undefined ? 0 : parseDuration(req.data.increment, "increment");
    const lease = await leases().renew(leaseId(req), increment);
    return { data: undefined, leaseInfo: { leaseId: lease.leaseId, renewable: lease.renewable, ttl: secondsLeft(lease) } };
  };
  // Vault answers 204 for a lease it does not know: revoking is idempotent, and the lease may have just expired.
  const revoke = async (req: LogicalRequest) => {
    await leases().revoke(leaseId(req));
    return {};
  };
  const revokePrefix = (force: boolean) => async (req: LogicalRequest) => {
    await leases().revokePrefix(req.params.prefix, { force });
    return {};
  };
  const leaseFields = { lease_id: { type: "string" as const }, increment: { type: "duration" as const } };
  return [
    {
      pattern: "leases/lookup",
      fields: leaseFields,
      ops: {
        update: async (req) => {
          const lease = await leases().lookup(leaseId(req));
          if (!lease) throw badRequest("invalid lease");
          return { data: describeLease(lease) };
        },
        list: async () => ({ data: { keys: await leases().list("") } }),
      },
    },
    {
      pattern: "leases/lookup/*prefix",
      sudo: true,
      ops: {
        list: async (req) => {
          const keys = await leases().list(req.params.prefix.replace(/\/?$/, "/"));
          return { data: { keys } };
        },
      },
    },
    { pattern: "leases/renew", fields: leaseFields, ops: { update: renew } },
    { pattern: "leases/renew/*lease_id", fields: leaseFields, ops: { update: renew } },
    { pattern: "renew", fields: leaseFields, ops: { update: renew } },
    { pattern: "renew/*lease_id", fields: leaseFields, ops: { update: renew } },
    { pattern: "leases/revoke", fields: leaseFields, ops: { update: revoke } },
    { pattern: "leases/revoke/*lease_id", fields: leaseFields, ops: { update: revoke } },
    { pattern: "revoke", fields: leaseFields, ops: { update: revoke } },
    { pattern: "revoke/*lease_id", fields: leaseFields, ops: { update: revoke } },
    // sys/revoke-prefix and sys/revoke-force are the older names Vault still serves.
    { pattern: "leases/revoke-prefix/*prefix", sudo: true, ops: { update: revokePrefix(false) } },
    { pattern: "revoke-prefix/*prefix", sudo: true, ops: { update: revokePrefix(false) } },
    { pattern: "leases/revoke-force/*prefix", sudo: true, ops: { update: revokePrefix(true) } },
    { pattern: "revoke-force/*prefix", sudo: true, ops: { update: revokePrefix(true) } },
  ];
}
