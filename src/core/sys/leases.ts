import { badRequest } from "../errors.js";
import { leaseNotFound } from "../leases/manager.js";
import { parseDuration } from "../tokens/duration.js";
import type { LeaseEntry, LogicalRequest, PathDef } from "../types.js";
import type { SysCore } from "./backend.js";

const iso = (unixSeconds: number | undefined) => (unixSeconds ? new Date(unixSeconds * 1000).toISOString() : null);

function leaseId(req: LogicalRequest): string {
  const id = req.data.lease_id ?? req.params.lease_id;
  if (typeof id !== "string" || id === "") throw badRequest('missing required field "lease_id"');
  return id;
}

/**
 * Whether the caller may see the lease: one its own token (service or batch)
 * was given, or the login lease of its own token; any lease with sudo on the
 * path (root). Any
 * other lease answers exactly as a missing one, so that one tenant cannot
 * look up, renew or revoke another's leases, nor learn that they exist.
 */
function mayTouch(req: LogicalRequest, lease: LeaseEntry): boolean {
  if (req.sudo) return true;
  const key = req.auth?.key;
  return key !== undefined && (lease.tokenKey === key || lease.batchTokenKey === key || lease.authTokenKey === key);
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
  /** The caller's lease named by the request, or undefined when it does not exist or is another's. */
  const callersLease = async (req: LogicalRequest) => {
    const lease = await leases().lookup(leaseId(req));
    return lease && mayTouch(req, lease) ? lease : undefined;
  };
  const renew = async (req: LogicalRequest) => {
    const increment = req.data.increment === undefined ? 0 : parseDuration(req.data.increment, "increment");
    if (!(await callersLease(req))) throw leaseNotFound();
    const lease = await leases().renew(leaseId(req), increment);
    return { data: undefined, leaseInfo: { leaseId: lease.leaseId, renewable: lease.renewable, ttl: secondsLeft(lease) } };
  };
  // Vault answers 204 for a lease it does not know: revoking is idempotent, and the lease may have just expired.
  // Another's lease is one this caller does not know.
  const revoke = async (req: LogicalRequest) => {
    if (await callersLease(req)) await leases().revoke(leaseId(req));
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
          const lease = await callersLease(req);
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
