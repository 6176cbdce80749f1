import { badRequest, permissionDenied } from "../../core/errors.js";
import { parseDuration } from "../../core/tokens/duration.js";
import { BATCH_PREFIX } from "../../core/tokens/crypto.js";
import { nonNegativeInt, remainingTtl, toAuthResult } from "../../core/tokens/store.js";
const batchNotRevocable = () => badRequest("batch tokens cannot be revoked");
const CREATE_FIELDS = {
    policies: { type: "string_list", description: "Policies of the token; default: the caller's" },
    meta: { type: "map", description: "String metadata, passed to audit and policy templates" },
    no_parent: { type: "bool", description: "Create an orphan (root callers; create-orphan always)" },
    no_default_policy: { type: "bool", description: "Leave out the default policy" },
    renewable: { type: "bool", description: "Whether the token can be renewed (default true)" },
    ttl: { type: "duration", description: "TTL, e.g. 1h; default 768h, none for root tokens" },
    explicit_max_ttl: { type: "duration", description: "Hard limit on the token's life" },
    period: { type: "duration", description: "Renew to this TTL forever (root or sudo)" },
    num_uses: { type: "int", description: "Number of uses; 0 = unlimited" },
    type: { type: "string", description: "service (default) or batch" },
    display_name: { type: "string", description: "Shown in audit logs as token-<name>" },
};
const TOKEN_FIELD = { token: { type: "string", required: true, description: "The token" } };
const ACCESSOR_FIELD = {
    accessor: { type: "string", required: true, description: "Accessor of the token" },
};
const INCREMENT_FIELD = {
    increment: { type: "duration", description: "Requested extension; may be capped" },
};
/** The `auth/token/` mount: Vault's token auth method API over the token store. */
export function createTokenBackend(deps) {
    const { tokens } = deps;
    const badToken = () => permissionDenied("bad token");
    async function create(req, orphanPath) {
        const parent = callerOf(req);
        const d = req.data;
        const parentIsRoot = parent.policies.includes("root");
        const period = parseDuration(d.period, "period");
        // Vault: periodic tokens need root or sudo; create-orphan is a sudo path.
        if (period > 0 && !parentIsRoot && !orphanPath) {
            throw badRequest("root or sudo privileges required to create periodic token");
        }
        const requested = stringList(d.policies, "policies");
        const { token, entry } = await tokens.create({
            policies: requested.length > 0 ? requested : parent.policies,
            metadata: stringMap(d.meta, "meta"),
            ttl: parseDuration(d.ttl, "ttl"),
            explicitMaxTtl: parseDuration(d.explicit_max_ttl, "explicit_max_ttl"),
            period,
            numUses: nonNegativeInt(d.num_uses, "num_uses"),
            renewable: d.renewable !== false,
            type: tokenType(d.type),
            parent,
            // Vault honours no_parent only for root (or sudo) callers.
            noParent: orphanPath || (d.no_parent === true && parentIsRoot),
            noDefaultPolicy: d.no_default_policy === true,
            displayName: displayName(d.display_name),
            path: `${req.mountPath}${req.path}`,
        });
        const warnings = await missingPolicyWarnings(entry.policies);
        return { authResult: toAuthResult(token, entry, tokens.nowSeconds()), ...(warnings.length > 0 && { warnings }) };
    }
    async function missingPolicyWarnings(policies) {
        const exists = deps.policyExists;
        if (!exists)
            return [];
        const warnings = [];
        for (const name of policies) {
            if (name !== "root" && name !== "default" && !(await exists(name)))
                warnings.push(`Policy "${name}" does not exist`);
        }
        return warnings;
    }
    async function lookupToken(token) {
        const entry = await tokens.lookup(token);
        if (!entry)
            throw badToken();
        return entry;
    }
    async function lookupAccessor(accessor) {
        const entry = await tokens.lookupByAccessor(accessor);
        if (!entry)
            throw badRequest("invalid accessor");
        return entry;
    }
    const lookupResponse = (entry, id) => ({
        data: lookupData(entry, id, tokens.nowSeconds()),
    });
    async function renew(entry, clientToken, increment) {
        const renewed = await tokens.renew(entry, parseDuration(increment, "increment"));
        return { authResult: toAuthResult(clientToken, renewed, tokens.nowSeconds()) };
    }
    function revocable(token) {
        if (token.startsWith(BATCH_PREFIX))
            throw batchNotRevocable();
        return tokens.keyOf(token);
    }
    const paths = [
        {
            pattern: "create",
            fields: CREATE_FIELDS,
            ops: { update: (req) => create(req, false) },
            help: "Create a child token of the calling token.",
        },
        {
            pattern: "create-orphan",
            fields: CREATE_FIELDS,
            sudo: true,
            ops: { update: (req) => create(req, true) },
            help: "Create a token without a parent.",
        },
        {
            pattern: "lookup",
            fields: TOKEN_FIELD,
            ops: {
                update: async (req) => {
                    const token = requiredString(req.data.token, "token");
                    // The caller supplied the token, so echoing it as `id` (as Vault does) discloses nothing.
                    return lookupResponse(await lookupToken(token), token);
                },
            },
        },
        {
            pattern: "lookup-self",
            needsClientToken: true,
            ops: {
                read: async (req) => lookupResponse(callerOf(req), req.clientToken ?? ""),
                update: async (req) => lookupResponse(callerOf(req), req.clientToken ?? ""),
            },
        },
        {
            pattern: "lookup-accessor",
            fields: ACCESSOR_FIELD,
            ops: {
                update: async (req) => lookupResponse(await lookupAccessor(requiredString(req.data.accessor, "accessor")), ""),
            },
        },
        {
            pattern: "renew",
            fields: { ...TOKEN_FIELD, ...INCREMENT_FIELD },
            ops: {
                update: async (req) => {
                    const token = requiredString(req.data.token, "token");
                    return renew(await lookupToken(token), token, req.data.increment);
                },
            },
        },
        {
            pattern: "renew-self",
            fields: INCREMENT_FIELD,
            needsClientToken: true,
            ops: { update: async (req) => renew(callerOf(req), req.clientToken ?? "", req.data.increment) },
        },
        {
            pattern: "renew-accessor",
            fields: { ...ACCESSOR_FIELD, ...INCREMENT_FIELD },
            ops: {
                update: async (req) => renew(await lookupAccessor(requiredString(req.data.accessor, "accessor")), "", req.data.increment),
            },
        },
        {
            pattern: "revoke",
            fields: TOKEN_FIELD,
            ops: {
                update: async (req) => {
                    await tokens.revokeTree(revocable(requiredString(req.data.token, "token")));
                    return undefined;
                },
            },
        },
        {
            pattern: "revoke-self",
            needsClientToken: true,
            ops: {
                update: async (req) => {
                    const caller = callerOf(req);
                    if (caller.type === "batch")
                        throw batchNotRevocable();
                    await tokens.revokeTree(caller.key);
                    return undefined;
                },
            },
        },
        {
            pattern: "revoke-orphan",
            fields: TOKEN_FIELD,
            sudo: true,
            ops: {
                update: async (req) => {
                    await tokens.revokeOrphan(revocable(requiredString(req.data.token, "token")));
                    return undefined;
                },
            },
        },
        {
            pattern: "revoke-accessor",
            fields: ACCESSOR_FIELD,
            ops: {
                update: async (req) => {
                    if (!(await tokens.revokeAccessor(requiredString(req.data.accessor, "accessor")))) {
                        throw badRequest("invalid accessor");
                    }
                    return undefined;
                },
            },
        },
        {
            pattern: "accessors",
            sudo: true,
            ops: { list: async () => ({ data: { keys: await tokens.listAccessors() } }) },
        },
    ];
    return {
        paths,
        // Vault: a token's lease is renewed through auth/token/renew*, which also moves the token's own expiry.
        async renew() {
            throw badRequest("tokens cannot be renewed through this endpoint");
        },
    };
}
/** Vault's token lookup `data`. `id` is the token itself where the caller already holds it, else "". */
export function lookupData(entry, id, nowSeconds) {
    return {
        accessor: entry.accessor,
        creation_time: entry.creationTime,
        creation_ttl: entry.ttl,
        display_name: entry.displayName,
        entity_id: entry.entityId ?? "",
        expire_time: entry.expireTime === 0 ? null : rfc3339(entry.expireTime),
        explicit_max_ttl: entry.explicitMaxTtl,
        id,
        issue_time: rfc3339(entry.creationTime),
        meta: Object.keys(entry.metadata).length > 0 ? { ...entry.metadata } : null,
        num_uses: Math.max(0, entry.numUses),
        orphan: entry.orphan,
        path: entry.path,
        policies: [...entry.policies],
        renewable: entry.renewable,
        ttl: remainingTtl(entry, nowSeconds),
        type: entry.type,
        ...(entry.period > 0 && { period: entry.period }),
        ...(entry.boundCidrs?.length && { bound_cidrs: [...entry.boundCidrs] }),
    };
}
const rfc3339 = (unixSeconds) => new Date(unixSeconds * 1000).toISOString();
function callerOf(req) {
    if (!req.auth)
        throw permissionDenied();
    return req.auth;
}
function requiredString(value, field) {
    if (typeof value !== "string" || value === "")
        throw badRequest(`missing required field "${field}"`);
    return value;
}
function stringList(value, field) {
    if (value === undefined || value === null || value === "")
        return [];
    if (typeof value === "string")
        return value.split(",").map((s) => s.trim());
    if (Array.isArray(value) && value.every((v) => typeof v === "string"))
        return value;
    throw badRequest(`field "${field}" must be a list of strings`);
}
function stringMap(value, field) {
    if (value === undefined || value === null)
        return {};
    if (typeof value !== "object" || Array.isArray(value))
        throw badRequest(`field "${field}" must map strings to strings`);
    const out = {};
    for (const [k, v] of Object.entries(value)) {
        if (typeof v !== "string")
            throw badRequest(`field "${field}" must map strings to strings`);
        out[k] = v;
    }
    return out;
}
function tokenType(value) {
    if (value === undefined || value === null || value === "" || value === "service")
        return "service";
    if (value === "batch")
        return "batch";
    throw badRequest(`field "type" must be "service" or "batch"`);
}
/** Vault: `token-<name>` with anything but letters, digits and `-` turned into `-`. */
function displayName(value) {
    if (typeof value !== "string" || value === "")
        return "token";
    return `token-${value}`.replace(/[^a-zA-Z0-9-]/g, "-").replace(/-+$/, "");
}
