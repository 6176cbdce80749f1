import { hkdfSync, randomBytes } from "node:crypto";
import { badRequest, internalError, LatchkeyError, sealed } from "../core/errors.js";
import { decryptValue, encryptValue, termOf } from "./aead.js";
import { createView } from "./view.js";
/** The keyring, encrypted with the root key (term 0 in the value header). */
export const KEYRING_KEY = "core/keyring";
/** The seal's own, non-secret configuration (plain JSON). */
export const SEAL_CONFIG_KEY = "core/seal-config";
/** The root key wrapped by the auto-unseal key file. */
export const ROOT_KEY_WRAPPED_KEY = "core/root-key-wrapped";
/** Physical keys that are written around the barrier, never through a view. */
const RESERVED_KEYS = new Set([KEYRING_KEY, SEAL_CONFIG_KEY, ROOT_KEY_WRAPPED_KEY]);
const KEY_BYTES = 32;
const ROOT_KEY_TERM = 0;
export const invalidRootKey = () => new LatchkeyError("LK_ERR_INVALID_UNSEAL_KEY", 400, "unseal failed: invalid key");
const unknownTerm = (term) => new LatchkeyError("LK_ERR_UNKNOWN_KEY_TERM", 400, `unknown keyring term ${term}`);
export function createBarrier(physical) {
    let state;
    let rotation = Promise.resolve();
    const unsealed = () => {
        if (!state)
            throw sealed();
        return state;
    };
    async function readKeyring(rootKey) {
        const stored = await physical.get(KEYRING_KEY);
        if (!stored)
            throw badRequest("latchkey is not initialized");
        let plaintext;
        try {
            plaintext = decryptValue(rootKey, KEYRING_KEY, stored);
        }
        catch {
            throw invalidRootKey();
        }
        return parseKeyring(plaintext);
    }
    async function writeKeyring(rootKey, keyring) {
        await physical.put(KEYRING_KEY, encryptValue(rootKey, ROOT_KEY_TERM, KEYRING_KEY, serializeKeyring(keyring)));
    }
    function install(rootKey, keyring) {
        const copy = Buffer.from(rootKey); // before forget(), which zeroes the current root key
        forget();
        state = { rootKey: copy, keyring, derived: new Map() };
    }
    function forget() {
        if (!state)
            return;
        state.rootKey.fill(0);
        for (const key of state.keyring.keys.values())
            key.fill(0);
        for (const key of state.derived.values())
            key.fill(0);
        state = undefined;
    }
    async function reload() {
        const { rootKey } = unsealed();
        const keyring = await readKeyring(rootKey);
        if (state)
            install(rootKey, keyring);
    }
    const codec = {
        encode(physicalKey, plaintext) {
            const { keyring } = unsealed();
            return encryptValue(keyring.keys.get(keyring.activeTerm), keyring.activeTerm, physicalKey, plaintext);
        },
        decode(physicalKey, stored) {
            const { keyring } = unsealed();
            const term = termOf(stored);
            const key = term === undefined ? undefined : keyring.keys.get(term);
            if (!key)
                throw internalError(`value at "${physicalKey}" is not readable with the keyring (term ${term})`);
            try {
                return decryptValue(key, physicalKey, stored);
            }
            catch (err) {
                throw internalError(`value at "${physicalKey}" failed to decrypt`, err);
            }
        },
    };
    /** A value written by a server that rotated after we loaded the keyring: reload once before decoding it. */
    async function loadTermOf(stored) {
        const term = stored && termOf(stored);
        if (term !== undefined && !unsealed().keyring.keys.has(term))
            await reload();
    }
    const writable = (key) => {
        unsealed();
        if (RESERVED_KEYS.has(key))
            throw internalError(`storage key "${key}" is reserved for the seal`);
    };
    const guardTx = (tx) => ({
        async get(key) {
            unsealed();
            const stored = await tx.get(key);
            await loadTermOf(stored);
            return stored;
        },
        async put(key, value) {
            writable(key);
            await tx.put(key, value);
        },
        async delete(key) {
            writable(key);
            await tx.delete(key);
        },
        async list(prefix, after, limit) {
            unsealed();
            return tx.list(prefix, after, limit);
        },
        async scan(prefix, after, limit) {
            unsealed();
            return tx.scan(prefix, after, limit);
        },
    });
    /** The physical store as views see it: refused while sealed, seal keys untouchable. */
    const guarded = {
        ...guardTx(physical),
        async transaction(fn) {
            unsealed();
            return physical.transaction((tx) => fn(guardTx(tx)));
        },
        async close() {
            throw internalError("a barrier view cannot close the physical store");
        },
    };
    return {
        async isInitialized() {
            return (await physical.get(KEYRING_KEY)) !== undefined;
        },
        async initialize(rootKey) {
            checkRootKey(rootKey);
            if (await physical.get(KEYRING_KEY))
                throw badRequest("latchkey is already initialized");
            const now = new Date().toISOString();
            const keyring = {
                activeTerm: 1,
                keys: new Map([[1, randomBytes(KEY_BYTES)]]),
                installTimes: new Map([[1, now]]),
            };
            await writeKeyring(rootKey, keyring);
            install(rootKey, keyring);
        },
        async unseal(rootKey) {
            checkRootKey(rootKey);
            install(rootKey, await readKeyring(rootKey));
        },
        seal: forget,
        isSealed: () => state === undefined,
        rotate() {
            const next = rotation.then(async () => {
                const { rootKey } = unsealed();
                // Start from the stored keyring so that a rotation by another server is kept.
                const keyring = await readKeyring(rootKey);
                const term = Math.max(...keyring.keys.keys()) + 1;
                keyring.keys.set(term, randomBytes(KEY_BYTES));
                keyring.installTimes.set(term, new Date().toISOString());
                keyring.activeTerm = term;
                await writeKeyring(rootKey, keyring);
                if (state)
                    install(rootKey, keyring);
                return term;
            });
            rotation = next.catch(() => undefined);
            return next;
        },
        activeTerm: () => unsealed().keyring.activeTerm,
        keyStatus() {
            const { keyring } = unsealed();
            return { term: keyring.activeTerm, installTime: keyring.installTimes.get(keyring.activeTerm) ?? "" };
        },
        reload,
        view: (prefix) => createView(guarded, prefix, codec),
        deriveKey(purpose, term) {
            const { keyring, derived } = unsealed();
            const t = term ?? keyring.activeTerm;
            const dataKey = keyring.keys.get(t);
            if (!dataKey)
                throw unknownTerm(t);
            const cacheKey = `${t}/${purpose}`;
            let key = derived.get(cacheKey);
            if (!key) {
                key = new Uint8Array(hkdfSync("sha256", dataKey, new Uint8Array(0), `latchkey/${purpose}`, KEY_BYTES));
                derived.set(cacheKey, key);
            }
            return { term: t, key: new Uint8Array(key) };
        },
    };
}
function checkRootKey(rootKey) {
    if (rootKey.length !== KEY_BYTES)
        throw invalidRootKey();
}
function serializeKeyring(keyring) {
    const stored = {
        version: 1,
        activeTerm: keyring.activeTerm,
        keys: [...keyring.keys].map(([term, key]) => ({
            term,
            key: key.toString("base64"),
            installTime: keyring.installTimes.get(term) ?? "",
        })),
    };
    return Buffer.from(JSON.stringify(stored), "utf8");
}
function parseKeyring(plaintext) {
    const stored = JSON.parse(Buffer.from(plaintext).toString("utf8"));
    if (stored.version !== 1)
        throw internalError(`unsupported keyring version ${String(stored.version)}`);
    const keyring = { activeTerm: stored.activeTerm, keys: new Map(), installTimes: new Map() };
    for (const entry of stored.keys) {
        keyring.keys.set(entry.term, Buffer.from(entry.key, "base64"));
        keyring.installTimes.set(entry.term, entry.installTime);
    }
    if (!keyring.keys.has(keyring.activeTerm))
        throw internalError("keyring has no key for its active term");
    return keyring;
}
