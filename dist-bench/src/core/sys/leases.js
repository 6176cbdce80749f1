import { badRequest } from "../errors.js";
import { parseDuration } from "../tokens/duration.js";
const iso = (unixSeconds) => (unixSeconds ? new Date(unixSeconds * 1000).toISOString() : null);
function leaseId(req) {
    const id = req.data.lease_id ?? req.params.lease_id;
    if (typeof id !== "string" || id === "")
        throw badRequest('missing required field "lease_id"');
    return id;
}
export function describeLease(lease) {
    const now = Math.floor(Date.now() / 1000);
    return {
        id: lease.leaseId,
        issue_time: iso(lease.issueTime),
        expire_time: iso(lease.expireTime),
        last_renewal: iso(lease.lastRenewalTime),
        renewable: lease.renewable,
        ttl: Math.max(0, lease.expireTime - now),
    };
}
/** sys/leases/*: lookup, renew, revoke, revoke-prefix, revoke-force (and Vault's older sys/renew, sys/revoke). */
export function leasePaths(core) {
    const leases = () => core.services.leases;
    const renew = async (req) => {
        const increment = req.data.increment === undefined ? 0 : parseDuration(req.data.increment, "increment");
        const lease = await leases().renew(leaseId(req), increment);
        const now = Math.floor(Date.now() / 1000);
        return { data: undefined, leaseInfo: { leaseId: lease.leaseId, renewable: lease.renewable, ttl: lease.expireTime - now } };
    };
    const revoke = async (req) => {
        const id = leaseId(req);
        if (!(await leases().lookup(id)))
            throw badRequest("invalid lease");
        await leases().revoke(id);
        return {};
    };
    const leaseFields = { lease_id: { type: "string" }, increment: { type: "duration" } };
    return [
        {
            pattern: "leases/lookup",
            fields: leaseFields,
            ops: {
                update: async (req) => {
                    const lease = await leases().lookup(leaseId(req));
                    if (!lease)
                        throw badRequest("invalid lease");
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
        {
            pattern: "leases/revoke-prefix/*prefix",
            sudo: true,
            ops: {
                update: async (req) => {
                    await leases().revokePrefix(req.params.prefix);
                    return {};
                },
            },
        },
        {
            pattern: "leases/revoke-force/*prefix",
            sudo: true,
            ops: {
                update: async (req) => {
                    await leases().revokePrefix(req.params.prefix, { force: true });
                    return {};
                },
            },
        },
    ];
}
