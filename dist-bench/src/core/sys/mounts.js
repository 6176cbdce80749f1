import { badRequest } from "../errors.js";
import { parseDuration } from "../tokens/duration.js";
/** sys/mounts and sys/auth: enable, disable, list and tune secrets engines and auth methods. */
export function mountPaths(core) {
    return [tablePaths(core, "mounts", "mounts"), tablePaths(core, "auth", "auth")].flat();
}
function tablePaths(core, prefix, table) {
    const mounts = () => core.services.mounts;
    const strip = (path) => (table === "auth" ? path.replace(/^auth\//, "") : path);
    const describe = (e) => ({
        type: e.type,
        description: e.description,
        accessor: e.accessor,
        uuid: e.uuid,
        local: e.local,
        seal_wrap: e.seal_wrap,
        options: e.options,
        config: { default_lease_ttl: e.config.default_lease_ttl, max_lease_ttl: e.config.max_lease_ttl, force_no_cache: false },
    });
    const listAll = async () => {
        const data = {};
        for (const e of mounts().list(table))
            data[strip(e.path)] = describe(e);
        if (table === "mounts") {
            data["sys/"] = { type: "system", description: "system endpoints used for control, policy and debugging", accessor: "system_0", uuid: "system", local: false, seal_wrap: false, options: {}, config: { default_lease_ttl: 0, max_lease_ttl: 0, force_no_cache: false } };
        }
        return { data };
    };
    const find = (path) => {
        const clean = path.replace(/^\/+|\/+$/g, "") + "/";
        const full = table === "auth" ? `auth/${clean}` : clean;
        const entry = mounts().list(table).find((e) => e.path === full);
        if (!entry)
            throw badRequest(`no ${table === "auth" ? "auth method" : "secrets engine"} mounted at "${clean}"`);
        return entry;
    };
    const tuneConfig = (req) => {
        const config = {};
        for (const field of ["default_lease_ttl", "max_lease_ttl"]) {
            if (req.data[field] !== undefined)
                config[field] = parseDuration(req.data[field], field);
        }
        return config;
    };
    return [
        { pattern: prefix, ops: { read: listAll } },
        {
            pattern: `${prefix}/*path`,
            sudo: table === "auth",
            fields: {
                type: { type: "string" },
                description: { type: "string" },
                config: { type: "object" },
                options: { type: "map" },
                local: { type: "bool" },
                seal_wrap: { type: "bool" },
            },
            ops: {
                read: async (req) => {
                    const path = req.params.path;
                    if (path.endsWith("/tune")) {
                        const e = find(path.slice(0, -"/tune".length));
                        return { data: { ...describe(e).config, description: e.description, options: e.options } };
                    }
                    return { data: describe(find(path)) };
                },
                update: async (req) => {
                    const path = req.params.path;
                    if (path.endsWith("/tune")) {
                        await mounts().tune(table, path.slice(0, -"/tune".length), tuneConfig(req));
                        return {};
                    }
                    const type = req.data.type;
                    if (typeof type !== "string" || type === "")
                        throw badRequest('missing required field "type"');
                    const config = (req.data.config ?? {});
                    const options = normaliseOptions(type, (req.data.options ?? {}));
                    await mounts().enable(table, path, {
                        type: type === "kv-v2" ? "kv" : type,
                        description: req.data.description,
                        config: {
                            default_lease_ttl: config.default_lease_ttl !== undefined ? parseDuration(config.default_lease_ttl, "config.default_lease_ttl") : undefined,
                            max_lease_ttl: config.max_lease_ttl !== undefined ? parseDuration(config.max_lease_ttl, "config.max_lease_ttl") : undefined,
                        },
                        options: type === "kv-v2" ? { ...options, version: "2" } : options,
                        local: req.data.local,
                        seal_wrap: req.data.seal_wrap,
                    });
                    return {};
                },
                delete: async (req) => {
                    await mounts().disable(table, req.params.path);
                    return {};
                },
            },
        },
    ];
}
function normaliseOptions(type, options) {
    const out = {};
    for (const [k, v] of Object.entries(options)) {
        if (typeof v !== "string" && typeof v !== "number" && typeof v !== "boolean") {
            throw badRequest(`field "options.${k}" must be a string`);
        }
        out[k] = String(v);
    }
    if (type === "kv" && out.version !== undefined && out.version !== "2") {
        throw badRequest('latchkey\'s kv engine is version 2; options.version must be "2"');
    }
    if (type === "kv")
        out.version = "2";
    return out;
}
