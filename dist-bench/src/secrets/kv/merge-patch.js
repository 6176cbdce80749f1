import { isObject } from "./fields.js";
/** JSON Merge Patch (RFC 7386), the body format of a KV v2 `PATCH`: null removes a key, objects merge deeply. */
export function mergePatch(target, patch) {
    const out = { ...target };
    for (const [key, value] of Object.entries(patch)) {
        if (value === null)
            delete out[key];
        else if (isObject(value))
            out[key] = mergePatch(isObject(out[key]) ? out[key] : {}, value);
        else
            out[key] = value;
    }
    return out;
}
