import { badRequest } from "../../core/errors.js";
export const DEFAULT_MAX_VERSIONS = 10;
export const defaultConfig = () => ({ max_versions: 0, cas_required: false, delete_version_after: 0 });
export const configKey = "config";
export const metaKey = (path) => `meta/${path}`;
export const versionKey = (path, version) => `ver/${path}/${version}`;
export async function readConfig(storage) {
    return { ...defaultConfig(), ...(await storage.getJSON(configKey)) };
}
export const readMetadata = (storage, path) => storage.getJSON(metaKey(path));
export const readVersionData = (storage, path, version) => storage.getJSON(versionKey(path, version));
export function newMetadata(now) {
    const time = now.toISOString();
    return {
        current_version: 0,
        oldest_version: 0,
        created_time: time,
        updated_time: time,
        max_versions: 0,
        cas_required: false,
        delete_version_after: 0,
        custom_metadata: null,
        versions: {},
    };
}
/** A version is deleted once its deletion time has passed; a scheduled deletion in the future is not yet. */
export function isDeleted(version, now) {
    return version.deletion_time !== "" && Date.parse(version.deletion_time) <= now.getTime();
}
/** Version numbers in the table, ascending. */
export const versionNumbers = (meta) => Object.keys(meta.versions)
    .map(Number)
    .sort((a, b) => a - b);
/**
 * Checks a secret path from the URL. Every path names a key below `meta/`, so
 * empty, `.` and `..` segments are refused; only a list may end with `/`.
 * Returns the path without a trailing slash.
 */
export function validateSecretPath(path, opts = {}) {
    let p = path;
    if (opts.list) {
        if (p === "")
            return "";
        if (p.endsWith("/"))
            p = p.slice(0, -1);
    }
    else {
        if (p === "")
            throw badRequest("missing path");
        if (p.endsWith("/"))
            throw badRequest(`path "${path}" must not end with "/"`);
    }
    for (const segment of p.split("/")) {
        if (segment === "")
            throw badRequest(`path "${path}" must not contain an empty segment`);
        if (segment === "." || segment === "..")
            throw badRequest(`path "${path}" must not contain "." or ".." segments`);
    }
    return p;
}
