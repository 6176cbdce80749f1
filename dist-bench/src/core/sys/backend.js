import { badRequest } from "../errors.js";
import { auditPaths } from "./audit.js";
import { leasePaths } from "./leases.js";
import { mountPaths } from "./mounts.js";
import { policyPaths } from "./policies.js";
import { sealPaths } from "./seal.js";
/** The `sys/` mount: control of the server itself. */
export function createSysBackend(core) {
    return {
        paths: [
            ...sealPaths(core),
            ...mountPaths(core),
            ...policyPaths(core),
            ...leasePaths(core),
            ...auditPaths(core),
            ...miscPaths(core),
        ],
    };
}
function miscPaths(core) {
    const capabilities = async (req, policies, metadata) => {
        const raw = req.data.paths ?? req.data.path;
        const paths = typeof raw === "string" ? [raw] : Array.isArray(raw) ? raw.filter((p) => typeof p === "string") : [];
        if (paths.length === 0)
            throw badRequest('missing required field "paths"');
        const acl = await core.services.policies.aclFor(policies);
        const data = {};
        for (const p of paths) {
            const caps = policies.includes("root") ? ["root"] : acl.check(p, "read", { metadata }).capabilities;
            data[p] = caps.length ? caps : ["deny"];
        }
        if (paths.length === 1)
            data.capabilities = data[paths[0]];
        return { data };
    };
    return [
        {
            pattern: "metrics",
            ops: {
                read: async () => ({
                    raw: { contentType: core.metrics.contentType, body: await core.metrics.text() },
                }),
            },
        },
        {
            pattern: "capabilities-self",
            ops: { update: async (req) => capabilities(req, req.auth?.policies ?? [], req.auth?.metadata ?? {}) },
        },
        {
            pattern: "capabilities",
            sudo: true,
            fields: { token: { type: "string" } },
            ops: {
                update: async (req) => {
                    const entry = typeof req.data.token === "string" ? await core.services.tokens.lookup(req.data.token) : undefined;
                    if (!entry)
                        throw badRequest("invalid token");
                    return capabilities(req, entry.policies, entry.metadata);
                },
            },
        },
        {
            pattern: "internal/ui/mounts/*path",
            ops: {
                read: async (req) => {
                    const mount = core.router.mountFor(req.params.path);
                    if (!mount)
                        throw badRequest(`no mount found for path "${req.params.path}"`);
                    const path = mount.entry.path;
                    return { data: { path, type: mount.entry.type, options: mount.entry.options, description: mount.entry.description } };
                },
            },
        },
        {
            pattern: "rotate",
            sudo: true,
            ops: {
                update: async () => {
                    await core.barrier.rotate();
                    return {};
                },
            },
        },
        {
            pattern: "key-status",
            ops: { read: async () => ({ data: { term: core.barrier.activeTerm() } }) },
        },
    ];
}
