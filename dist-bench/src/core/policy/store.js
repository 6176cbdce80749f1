import { badRequest, internalError, LatchkeyError } from "../errors.js";
import { compileAcl } from "./acl.js";
import { assertDeletable, assertWritable, builtinDefaultPolicy, DEFAULT_POLICY_NAME, DEFAULT_POLICY_TEXT, ROOT_POLICY, ROOT_POLICY_NAME, } from "./builtin.js";
import { parsePolicy } from "./parse.js";
const NAME = /^[a-z0-9._-]+$/;
const MAX_NAME_LENGTH = 128;
/** Lower-cases and validates a policy name; the message names the field. */
export function normalizePolicyName(name) {
    const normalized = name.trim().toLowerCase();
    if (!NAME.test(normalized) || /^\.+$/.test(normalized) || normalized.length > MAX_NAME_LENGTH) {
        throw badRequest(`field "name": invalid policy name "${name}"; use up to ${MAX_NAME_LENGTH} lower-case letters, digits, ".", "_" and "-"`);
    }
    return normalized;
}
export function createPolicyStore(storage, opts = {}) {
    const aclCacheSize = opts.aclCacheSize ?? 1024;
    const policies = new Map();
    const acls = new Map();
    const key = (name) => `acl/${name}`;
    async function read(name) {
        if (name === ROOT_POLICY_NAME)
            return { name, text: "" };
        const stored = await storage.getJSON(key(name));
        if (stored)
            return { name, text: stored.text };
        return name === DEFAULT_POLICY_NAME ? { name, text: DEFAULT_POLICY_TEXT } : undefined;
    }
    async function load(name) {
        if (name === ROOT_POLICY_NAME)
            return ROOT_POLICY;
        const stored = await storage.getJSON(key(name));
        if (!stored)
            return name === DEFAULT_POLICY_NAME ? builtinDefaultPolicy() : undefined;
        try {
            return parsePolicy(name, stored.text);
        }
        catch (err) {
            // It parsed when written; failing now means a corrupt record or a stricter parser. Fail closed, loudly.
            if (err instanceof LatchkeyError)
                throw internalError(`stored policy "${name}" no longer parses: ${err.message}`, err);
            throw err;
        }
    }
    /** Cached load; a failed load is not cached, so the next request retries it. */
    function cachedLoad(name) {
        let pending = policies.get(name);
        if (!pending) {
            pending = load(name);
            policies.set(name, pending);
            pending.catch(() => {
                if (policies.get(name) === pending)
                    policies.delete(name);
            });
        }
        return pending;
    }
    async function build(names) {
        const loaded = await Promise.all(names.map(cachedLoad));
        return compileAcl(loaded.filter((p) => p !== undefined));
    }
    const store = {
        get: (name) => read(normalizePolicyName(name)),
        async put(name, text) {
            const normalized = normalizePolicyName(name);
            assertWritable(normalized);
            const policy = parsePolicy(normalized, text);
            await storage.putJSON(key(normalized), { name: normalized, text });
            store.invalidate(normalized);
            return policy;
        },
        async delete(name) {
            const normalized = normalizePolicyName(name);
            assertDeletable(normalized);
            await storage.delete(key(normalized));
            store.invalidate(normalized);
        },
        async list() {
            const names = [];
            let after;
            for (;;) {
                const page = await storage.list("acl/", after, 1000);
                names.push(...page.filter((n) => !n.endsWith("/")));
                if (page.length < 1000)
                    break;
                after = page[page.length - 1];
            }
            return [...new Set([...names, DEFAULT_POLICY_NAME, ROOT_POLICY_NAME])].sort();
        },
        aclFor(policyNames) {
            const names = [...new Set(policyNames.map((n) => n.trim().toLowerCase()).filter((n) => NAME.test(n)))].sort();
            const cacheKey = names.join("\n");
            let pending = acls.get(cacheKey);
            if (pending) {
                // Refresh recency: Map iteration order is insertion order, so the first key is the least recently used.
                acls.delete(cacheKey);
            }
            else {
                pending = build(names);
                pending.catch(() => {
                    if (acls.get(cacheKey) === pending)
                        acls.delete(cacheKey);
                });
            }
            acls.set(cacheKey, pending);
            while (acls.size > aclCacheSize) {
                const oldest = acls.keys().next();
                if (oldest.done)
                    break;
                acls.delete(oldest.value);
            }
            return pending;
        },
        invalidate(name) {
            if (name === undefined)
                policies.clear();
            else
                policies.delete(name);
            // Any cached set may contain the name; sets are cheap to recompile from cached policies.
            acls.clear();
        },
    };
    return store;
}
