export function compileRoutes(paths) {
    return paths.map((def) => {
        const segments = def.pattern === "" ? [] : def.pattern.split("/");
        const last = segments.at(-1);
        if (last?.startsWith("*"))
            return { def, segments: segments.slice(0, -1), rest: last.slice(1) };
        return { def, segments };
    });
}
/** Matches a mount-relative path against one route; returns its params or undefined. */
export function matchRoute(route, path) {
    const parts = path === "" ? [] : path.split("/");
    if (route.rest === undefined ? parts.length !== route.segments.length : parts.length <= route.segments.length) {
        return undefined;
    }
    const params = {};
    for (let i = 0; i < route.segments.length; i++) {
        const seg = route.segments[i];
        const part = parts[i];
        if (seg.startsWith(":")) {
            if (part === "")
                return undefined;
            params[seg.slice(1)] = part;
        }
        else if (seg !== part) {
            return undefined;
        }
    }
    if (route.rest !== undefined) {
        const rest = parts.slice(route.segments.length).join("/");
        if (rest === "")
            return undefined;
        params[route.rest] = rest;
    }
    return params;
}
/**
 * Longest-prefix routing of `/v1/<path>` to mounted backends. Mount paths are
 * kept sorted longest first, so `auth/kubernetes-prod/` wins over `auth/kubernetes/`
 * only when the request path really is below it.
 */
export function createRouter() {
    let mounts = [];
    return {
        mount(entry, backend) {
            const mounted = { entry, backend, routes: compileRoutes(backend.paths) };
            mounts = [...mounts.filter((m) => m.entry.path !== entry.path), mounted].sort((a, b) => b.entry.path.length - a.entry.path.length);
            return mounted;
        },
        unmount(path) {
            const found = mounts.find((m) => m.entry.path === path);
            mounts = mounts.filter((m) => m.entry.path !== path);
            return found;
        },
        /** The mount that owns `path`, if any. */
        mountFor(path) {
            return mounts.find((m) => path.startsWith(m.entry.path) || path + "/" === m.entry.path);
        },
        /** The mount at exactly `path` (with trailing slash). */
        get(path) {
            return mounts.find((m) => m.entry.path === path);
        },
        all() {
            return mounts;
        },
        /**
         * Resolves a full API path to a route. `undefined` mount → no such mount;
         * a mount with no matching route → `{mount}` only.
         */
        route(path) {
            const mount = this.mountFor(path);
            if (!mount)
                return {};
            const rel = path.length >= mount.entry.path.length ? path.slice(mount.entry.path.length) : "";
            for (const route of mount.routes) {
                const params = matchRoute(route, rel);
                if (params)
                    return { mount, match: { mount, def: route.def, path: rel, params } };
            }
            return { mount };
        },
        clear() {
            mounts = [];
        },
    };
}
/** Maps an HTTP method (and `?list=true`) to the logical operation; undefined = not allowed. */
export function operationFor(method, listQuery) {
    switch (method) {
        case "GET":
            return listQuery ? "list" : "read";
        case "LIST":
            return "list";
        case "POST":
        case "PUT":
            return "update";
        case "PATCH":
            return "patch";
        case "DELETE":
            return "delete";
        default:
            return undefined;
    }
}
