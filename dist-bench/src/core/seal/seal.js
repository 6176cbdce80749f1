import { randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { decryptValue, encryptValue } from "../../storage/aead.js";
import { invalidRootKey, ROOT_KEY_WRAPPED_KEY, SEAL_CONFIG_KEY } from "../../storage/barrier.js";
import { badRequest, internalError, LatchkeyError } from "../errors.js";
import { VERSION } from "../version.js";
import { checkSplitParams, combine, split } from "./shamir.js";
const ROOT_KEY_BYTES = 32;
export function createSealManager(opts) {
    const { physical, barrier } = opts;
    let config;
    let progress = [];
    let nonce = "";
    let queue = Promise.resolve();
    /** Unseal and init steps run one at a time, so two requests cannot both complete a threshold. */
    function exclusive(op) {
        const run = queue.then(op);
        queue = run.catch(() => undefined);
        return run;
    }
    function resetProgress() {
        for (const part of progress)
            part.fill(0);
        progress = [];
        nonce = "";
    }
    async function loadConfig() {
        if (config)
            return config;
        const stored = await physical.get(SEAL_CONFIG_KEY);
        if (stored)
            config = JSON.parse(Buffer.from(stored).toString("utf8"));
        return config;
    }
    async function status() {
        const initialized = await barrier.isInitialized();
        const cfg = initialized ? await loadConfig() : undefined;
        return {
            type: cfg?.type ?? opts.seal.type,
            initialized,
            sealed: barrier.isSealed(),
            t: cfg?.secret_threshold ?? 0,
            n: cfg?.secret_shares ?? 0,
            progress: progress.length,
            nonce,
            version: opts.version ?? VERSION,
            ...(opts.buildDate ? { build_date: opts.buildDate } : {}),
            migration: false,
            recovery_seal: false,
            storage_type: opts.storageType,
        };
    }
    async function initialize(params) {
        if (await barrier.isInitialized())
            throw badRequest("latchkey is already initialized");
        const auto = opts.seal.type === "auto";
        const cfg = auto
            ? { type: "auto", secret_shares: 1, secret_threshold: 1 }
            : { type: "shamir", secret_shares: params.secretShares, secret_threshold: params.secretThreshold };
        checkSplitParams(cfg.secret_shares, cfg.secret_threshold);
        const rootKey = randomBytes(ROOT_KEY_BYTES);
        // The keyring is written last: until it exists the store counts as uninitialised, so a
        // crash half-way leaves something that a second init simply overwrites.
        await physical.put(SEAL_CONFIG_KEY, Buffer.from(JSON.stringify(cfg), "utf8"));
        if (opts.seal.type === "auto") {
            const fileKey = await loadKeyFile(opts.seal.keyFile, { create: true });
            await physical.put(ROOT_KEY_WRAPPED_KEY, encryptValue(fileKey, 0, ROOT_KEY_WRAPPED_KEY, rootKey));
            fileKey.fill(0);
        }
        await barrier.initialize(rootKey);
        config = cfg;
        resetProgress();
        // With one share the unseal key is the root key itself, as in Vault.
        const keys = auto ? [] : cfg.secret_shares === 1 ? [new Uint8Array(rootKey)] : split(rootKey, cfg.secret_shares, cfg.secret_threshold);
        rootKey.fill(0);
        return { keys };
    }
    async function submitUnsealKey(key, submitOpts = {}) {
        const cfg = (await barrier.isInitialized()) ? await loadConfig() : undefined;
        if (!cfg)
            throw badRequest("latchkey is not initialized");
        if (submitOpts.reset) {
            resetProgress();
            return status();
        }
        if (!barrier.isSealed())
            return status();
        if (cfg.type === "auto")
            throw badRequest("latchkey uses the auto seal and does not take unseal keys");
        const expectedLength = cfg.secret_shares === 1 ? ROOT_KEY_BYTES : ROOT_KEY_BYTES + 1;
        const part = decodeKey(key, expectedLength);
        if (progress.some((p) => timingSafeEqual(p, part)))
            return status();
        if (progress.length === 0)
            nonce = randomUUID();
        progress.push(part);
        if (progress.length < cfg.secret_threshold)
            return status();
        let rootKey;
        try {
            rootKey = cfg.secret_shares === 1 ? new Uint8Array(part) : combine(progress);
            await barrier.unseal(rootKey);
        }
        catch (err) {
            const isKeyError = err instanceof LatchkeyError && err.status === 400;
            if (isKeyError)
                throw invalidRootKey();
            throw err;
        }
        finally {
            rootKey?.fill(0);
            resetProgress();
        }
        return status();
    }
    async function autoUnseal() {
        const cfg = (await barrier.isInitialized()) ? await loadConfig() : undefined;
        if (!cfg)
            throw badRequest("latchkey is not initialized");
        if (cfg.type !== opts.seal.type) {
            throw badRequest(`latchkey was initialized with the ${cfg.type} seal but is configured for the ${opts.seal.type} seal`);
        }
        if (opts.seal.type !== "auto")
            throw badRequest("auto-unseal needs the auto seal; unseal with unseal keys");
        if (!barrier.isSealed())
            return;
        const wrapped = await physical.get(ROOT_KEY_WRAPPED_KEY);
        if (!wrapped)
            throw internalError(`auto seal: no wrapped root key at ${ROOT_KEY_WRAPPED_KEY}`);
        const fileKey = await loadKeyFile(opts.seal.keyFile, { create: false });
        let rootKey;
        try {
            rootKey = decryptValue(fileKey, ROOT_KEY_WRAPPED_KEY, wrapped);
        }
        catch {
            throw badRequest(`auto-unseal failed: key file ${opts.seal.keyFile} does not match this storage`);
        }
        finally {
            fileKey.fill(0);
        }
        try {
            await barrier.unseal(rootKey);
        }
        finally {
            rootKey.fill(0);
        }
    }
    return {
        isInitialized: () => barrier.isInitialized(),
        initialize: (params) => exclusive(() => initialize(params)),
        submitUnsealKey: (key, submitOpts) => exclusive(() => submitUnsealKey(key, submitOpts)),
        autoUnseal: () => exclusive(autoUnseal),
        seal: () => exclusive(async () => {
            resetProgress();
            barrier.seal();
        }),
        status,
    };
}
/** Vault accepts unseal keys in hex or base64; anything else, or a wrong length, is the client's mistake. */
function decodeKey(key, expectedLength) {
    let bytes;
    if (typeof key !== "string")
        bytes = new Uint8Array(key);
    else {
        const text = key.trim();
        if (/^(?:[0-9a-fA-F]{2})+$/.test(text))
            bytes = Buffer.from(text, "hex");
        if (bytes?.length !== expectedLength && /^[A-Za-z0-9+/_-]+={0,2}$/.test(text))
            bytes = Buffer.from(text, "base64");
    }
    if (bytes?.length !== expectedLength)
        throw badRequest('"key" must be an unseal key in hex or base64');
    return new Uint8Array(bytes);
}
/**
 * The auto-unseal key: 32 random bytes in base64 in a file only the server's
 * user can read. Created on initialisation if missing; never created on unseal,
 * since a fresh key could not unwrap the stored root key anyway.
 */
async function loadKeyFile(path, { create }) {
    if (create) {
        await mkdir(dirname(path), { recursive: true, mode: 0o700 });
        try {
            await writeFile(path, `${randomBytes(ROOT_KEY_BYTES).toString("base64")}\n`, { mode: 0o600, flag: "wx" });
        }
        catch (err) {
            if (err.code !== "EEXIST") {
                throw internalError(`auto seal: cannot create key file ${path}`, err);
            }
        }
    }
    let text;
    try {
        text = (await readFile(path, "utf8")).trim();
    }
    catch (err) {
        throw internalError(`auto seal: cannot read key file ${path}`, err);
    }
    const key = Buffer.from(text, "base64");
    if (key.length !== ROOT_KEY_BYTES || key.toString("base64") !== text) {
        throw internalError(`auto seal: key file ${path} must hold ${ROOT_KEY_BYTES} bytes in base64`);
    }
    return key;
}
