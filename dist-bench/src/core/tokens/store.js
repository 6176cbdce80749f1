import { badRequest, permissionDenied } from "../errors.js";
import { BATCH_PREFIX, newAccessor, newServiceToken, openBatch, sealBatch, tokenKey } from "./crypto.js";
/** Vault's system default lease TTL and max TTL: 768h (32 days). */
export const DEFAULT_TOKEN_TTL = 768 * 3600;
export const MAX_TOKEN_TTL = 768 * 3600;
/**
 * `numUses` of a token whose revocation has begun (Vault's "tainted" state):
 * it no longer authenticates and cannot parent new tokens, while its subtree
 * and leases are being revoked.
 */
const REVOKING = -1;
const PAGE = 1000;
const ACCESSOR_PATTERN = /^[0-9A-Za-z]+$/;
const idKey = (key) => `id/${key}`;
const accessorKey = (accessor) => `accessor/${accessor}`;
const childKey = (parentKey, key) => `parent/${parentKey}/${key}`;
/**
 * The token store. Storage layout under its view:
 * `id/<key>` → TokenEntry, `accessor/<accessor>` → {key},
 * `parent/<parent key>/<child key>` → {} (so a tree can be walked without
 * scanning every token). `key` is HMAC-SHA256(hmacKey, token) in hex.
 */
export function createTokenStore(deps) {
    const { storage, leases } = deps;
    const clock = deps.now ?? Date.now;
    const defaultTtl = deps.defaultTtl ?? DEFAULT_TOKEN_TTL;
    const maxTtl = deps.maxTtl ?? MAX_TOKEN_TTL;
    const nowSeconds = () => Math.floor(clock() / 1000);
    const keyOf = (token) => tokenKey(deps.hmacKey, token);
    /** The entry if it still authenticates: not expired, not being revoked. */
    function live(entry) {
        if (!entry || entry.numUses < 0)
            return undefined;
        if (entry.expireTime !== 0 && entry.expireTime <= nowSeconds())
            return undefined;
        return entry;
    }
    const lookupByKey = async (key) => live(await storage.getJSON(idKey(key)));
    async function create(params) {
        const { parent } = params;
        const type = params.type ?? "service";
        if (parent?.type === "batch")
            throw badRequest("batch tokens cannot create more tokens");
        const policies = policySet(params, parent);
        const isRoot = policies.includes("root");
        const explicitMaxTtl = nonNegativeInt(params.explicitMaxTtl, "explicit_max_ttl");
        const period = Math.min(nonNegativeInt(params.period, "period"), maxTtl);
        const numUses = nonNegativeInt(params.numUses, "num_uses");
        if (type === "batch") {
            if (isRoot)
                throw badRequest("batch tokens cannot be root tokens");
            if (period > 0)
                throw badRequest("batch tokens cannot be periodic");
            if (numUses > 0)
                throw badRequest("batch tokens cannot have a limited number of uses");
        }
        // Vault: a periodic token's TTL is its period; otherwise the requested TTL
        // within the system max; root service tokens without a TTL never expire.
        const requestedTtl = nonNegativeInt(params.ttl, "ttl") || (isRoot && type === "service" ? 0 : defaultTtl);
        let ttl = period || Math.min(requestedTtl, maxTtl);
        if (explicitMaxTtl > 0 && (ttl === 0 || ttl > explicitMaxTtl))
            ttl = explicitMaxTtl;
        const now = nowSeconds();
        const parentKey = parent && !params.noParent ? parent.key : undefined;
        const entry = {
            key: "",
            accessor: "",
            type,
            policies,
            metadata: { ...params.metadata },
            path: params.path,
            displayName: params.displayName ?? "token",
            creationTime: now,
            expireTime: ttl > 0 ? now + ttl : 0,
            explicitMaxTtl,
            ttl,
            period,
            renewable: type === "service" && ttl > 0 && params.renewable !== false,
            numUses,
            orphan: parentKey === undefined,
            ...(parentKey !== undefined && { parentKey }),
            ...(params.boundCidrs?.length && { boundCidrs: [...params.boundCidrs] }),
        };
        if (type === "batch") {
            const { key: _key, ...payload } = entry;
            const token = sealBatch(deps.batchKey(), new TextEncoder().encode(JSON.stringify(payload)));
            return { token, entry: { ...entry, key: keyOf(token) } };
        }
        const token = params.id ?? newServiceToken();
        if (params.id !== undefined && (params.id === "" || params.id.startsWith(BATCH_PREFIX) || /\s/.test(params.id))) {
            throw badRequest(`field "id" must be a non-empty string without spaces that does not start with "${BATCH_PREFIX}"`);
        }
        entry.key = keyOf(token);
        entry.accessor = newAccessor();
        if (ttl > 0) {
            const maxExpireTime = explicitMaxTtl > 0 ? now + explicitMaxTtl : period > 0 ? 0 : now + maxTtl;
            const lease = await leases.register({
                kind: "auth",
                mountPath: "auth/token/",
                path: "create",
                // Vault's lease ids for tokens: the creating path plus the token's key,
                // so `revoke-prefix auth/kubernetes/` revokes every login of that mount.
                leaseId: `${params.path}/${entry.key}`,
                ttl,
                maxExpireTime,
                renewable: entry.renewable,
                authTokenKey: entry.key,
                // No tokenKey: the parent's leases are revoked with the parent, and a
                // child must survive that when it is orphaned (revoke-orphan). The
                // parent index, not the lease owner, ties children to parents.
            });
            entry.leaseId = lease.leaseId;
        }
        try {
            await storage.transaction(async (tx) => {
                if (params.id !== undefined && (await tx.get(idKey(entry.key))))
                    throw badRequest("token already exists");
                // Re-read the parent inside the transaction: a child must not outlive a parent revoked meanwhile.
                if (parentKey !== undefined && !live(await tx.getJSON(idKey(parentKey))))
                    throw permissionDenied();
                await tx.putJSON(idKey(entry.key), entry);
                await tx.putJSON(accessorKey(entry.accessor), { key: entry.key });
                if (parentKey !== undefined)
                    await tx.putJSON(childKey(parentKey, entry.key), {});
            });
        }
        catch (err) {
            if (entry.leaseId)
                await leases.forget(entry.leaseId).catch(() => undefined);
            throw err;
        }
        return { token, entry };
    }
    /** Policies sorted and deduplicated; the subset rule against the parent; `default` added as Vault does. */
    function policySet(params, parent) {
        const requested = [...new Set(params.policies.map((p) => p.trim().toLowerCase()))].filter((p) => p !== "" && !(params.noDefaultPolicy && p === "default"));
        const parentIsRoot = parent?.policies.includes("root") ?? false;
        if (parent && !parentIsRoot && requested.some((p) => !parent.policies.includes(p))) {
            throw badRequest("child policies must be subset of parent");
        }
        // A child gets `default` only if its parent could have given it.
        const mayAddDefault = !parent || parentIsRoot || parent.policies.includes("default");
        if (!params.noDefaultPolicy && !requested.includes("root") && mayAddDefault && !requested.includes("default")) {
            requested.push("default");
        }
        if (requested.length === 0)
            throw badRequest("token must have at least one policy");
        return requested.sort();
    }
    async function lookupBatch(token) {
        const payload = openBatch(deps.batchKey(), token);
        if (!payload)
            throw permissionDenied();
        const body = JSON.parse(new TextDecoder().decode(payload));
        const entry = { ...body, key: keyOf(token) };
        if (entry.expireTime <= nowSeconds())
            throw permissionDenied();
        // Vault: a batch token with a parent dies with it.
        if (entry.parentKey !== undefined && !(await lookupByKey(entry.parentKey)))
            throw permissionDenied();
        return entry;
    }
    async function use(entry) {
        if (entry.type === "batch" || entry.numUses === 0)
            return entry;
        const updated = await storage.transaction(async (tx) => {
            const current = live(await tx.getJSON(idKey(entry.key)));
            if (!current)
                throw permissionDenied();
            const next = { ...current, numUses: current.numUses === 1 ? REVOKING : current.numUses - 1 };
            await tx.putJSON(idKey(entry.key), next);
            return next;
        });
        // Vault: the last use still succeeds; the token is gone for the next request.
        if (updated.numUses === REVOKING)
            await revokeTree(entry.key);
        return updated;
    }
    async function renew(entry, increment = 0) {
        if (!entry.renewable || entry.type === "batch")
            throw badRequest("token is not renewable");
        const renewed = await storage.transaction(async (tx) => {
            const current = live(await tx.getJSON(idKey(entry.key)));
            if (!current)
                throw permissionDenied();
            if (!current.renewable || !current.leaseId)
                throw badRequest("token is not renewable");
            const next = { ...current, expireTime: renewedExpiry(current, increment, nowSeconds(), maxTtl) };
            await tx.putJSON(idKey(entry.key), next);
            return next;
        });
        if (renewed.leaseId)
            await leases.setExpiry(renewed.leaseId, renewed.expireTime);
        return renewed;
    }
    /** Marks a token as being revoked so it stops authenticating and parenting before its subtree is gone. */
    async function markRevoking(key) {
        await storage.transaction(async (tx) => {
            const entry = await tx.getJSON(idKey(key));
            if (entry && entry.numUses !== REVOKING)
                await tx.putJSON(idKey(key), { ...entry, numUses: REVOKING });
        });
    }
    /** Revokes one token whose children are already gone: its leases first, then the token, then its auth lease. */
    async function revokeOne(key, parentHint) {
        await leases.revokeByToken(key);
        const entry = await storage.transaction(async (tx) => {
            const found = await tx.getJSON(idKey(key));
            await tx.delete(idKey(key));
            if (found)
                await tx.delete(accessorKey(found.accessor));
            if (found?.parentKey !== undefined)
                await tx.delete(childKey(found.parentKey, key));
            if (parentHint !== undefined)
                await tx.delete(childKey(parentHint, key));
            return found;
        });
        if (entry?.leaseId)
            await leases.forget(entry.leaseId);
    }
    // Depth first, children before their parent, so that a crash half-way never
    // leaves a live child whose parent link is already gone.
    async function revokeTree(rootKey) {
        await markRevoking(rootKey);
        const stack = [{ key: rootKey }];
        while (stack.length > 0) {
            const top = stack[stack.length - 1];
            const children = await storage.list(`parent/${top.key}/`, undefined, PAGE);
            if (children.length > 0) {
                for (const child of children)
                    stack.push({ key: child, parentKey: top.key });
                continue;
            }
            stack.pop();
            await revokeOne(top.key, top.parentKey);
        }
    }
    async function revokeOrphan(key) {
        await markRevoking(key);
        for (;;) {
            const children = await storage.list(`parent/${key}/`, undefined, PAGE);
            if (children.length === 0)
                break;
            await storage.transaction(async (tx) => {
                for (const child of children) {
                    const entry = await tx.getJSON(idKey(child));
                    if (entry) {
                        const { parentKey: _parent, ...rest } = entry;
                        await tx.putJSON(idKey(child), { ...rest, orphan: true });
                    }
                    await tx.delete(childKey(key, child));
                }
            });
        }
        await revokeOne(key);
    }
    async function keyForAccessor(accessor) {
        if (!ACCESSOR_PATTERN.test(accessor))
            return undefined;
        return (await storage.getJSON(accessorKey(accessor)))?.key;
    }
    return {
        create,
        async lookup(token) {
            if (token.startsWith(BATCH_PREFIX))
                return lookupBatch(token);
            return lookupByKey(keyOf(token));
        },
        use,
        async lookupByAccessor(accessor) {
            const key = await keyForAccessor(accessor);
            return key === undefined ? undefined : lookupByKey(key);
        },
        lookupByKey,
        renew,
        revokeTree,
        revokeOrphan,
        async revokeAccessor(accessor) {
            const key = await keyForAccessor(accessor);
            if (key === undefined)
                return false;
            await revokeTree(key);
            return true;
        },
        listAccessors: () => storage.list("accessor/"),
        keyOf,
        nowSeconds,
    };
}
/**
 * Vault's renewal rule: a periodic token goes back to its full period; any
 * other token gets `increment` (default: its original TTL) from now, never
 * past creation + explicit max TTL or creation + the system max TTL.
 */
function renewedExpiry(entry, increment, now, maxTtl) {
    const limits = [];
    if (entry.explicitMaxTtl > 0)
        limits.push(entry.creationTime + entry.explicitMaxTtl);
    if (entry.period > 0)
        return Math.min(now + entry.period, ...limits);
    limits.push(entry.creationTime + maxTtl);
    return Math.min(now + (increment || entry.ttl), ...limits);
}
/** A count or number of seconds from a caller: absent is 0; otherwise a safe non-negative integer, or 400 naming the field. */
export function nonNegativeInt(value, field) {
    if (value === undefined || value === null)
        return 0;
    if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
        throw badRequest(`field "${field}" must be a non-negative integer`);
    }
    return value;
}
/** The `auth` block Vault returns for a token: create, login and renew responses. */
export function toAuthResult(token, entry, nowSeconds = Math.floor(Date.now() / 1000)) {
    return {
        client_token: token,
        accessor: entry.accessor,
        policies: [...entry.policies],
        token_policies: [...entry.policies],
        metadata: Object.keys(entry.metadata).length > 0 ? { ...entry.metadata } : null,
        lease_duration: remainingTtl(entry, nowSeconds),
        renewable: entry.renewable,
        entity_id: entry.entityId ?? "",
        token_type: entry.type,
        orphan: entry.orphan,
        num_uses: Math.max(0, entry.numUses),
    };
}
/** Seconds a token has left; 0 for tokens that never expire. */
export function remainingTtl(entry, nowSeconds) {
    return entry.expireTime === 0 ? 0 : Math.max(0, entry.expireTime - nowSeconds);
}
