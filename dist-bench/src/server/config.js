import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { parseDuration } from "../core/tokens/duration.js";
export class ConfigError extends Error {
    name = "ConfigError";
}
const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"];
export const DEFAULT_CONFIG = {
    listener: { address: "127.0.0.1:8200" },
    storage: { type: "sqlite", path: "./data/latchkey.db" },
    seal: { type: "shamir" },
    logLevel: "info",
    maxRequestSize: 1024 * 1024,
    leaseTickSeconds: 1,
};
export function loadConfigFile(path) {
    let text;
    try {
        text = readFileSync(path, "utf8");
    }
    catch (err) {
        throw new ConfigError(`cannot read config file ${path}: ${err.message}`);
    }
    let doc;
    try {
        doc = parse(text);
    }
    catch (err) {
        throw new ConfigError(`config file ${path} is not valid YAML: ${err.message}`);
    }
    return parseConfig(doc ?? {}, path);
}
function isObject(v) {
    return typeof v === "object" && v !== null && !Array.isArray(v);
}
function str(v, key, file) {
    if (v === undefined || v === null || v === "")
        return undefined;
    if (typeof v !== "string")
        throw new ConfigError(`${file}: "${key}" must be a string`);
    return v;
}
function only(obj, allowed, where, file) {
    for (const key of Object.keys(obj)) {
        if (!allowed.includes(key))
            throw new ConfigError(`${file}: unknown key "${where}${key}"`);
    }
}
export function parseConfig(doc, file = "config") {
    if (!isObject(doc))
        throw new ConfigError(`${file}: the top level must be a mapping`);
    only(doc, ["listener", "storage", "seal", "log_level", "max_request_size", "lease_tick"], "", file);
    const cfg = structuredClone(DEFAULT_CONFIG);
    if (doc.listener !== undefined) {
        if (!isObject(doc.listener))
            throw new ConfigError(`${file}: "listener" must be a mapping`);
        only(doc.listener, ["address", "tls_cert_file", "tls_key_file"], "listener.", file);
        cfg.listener.address = str(doc.listener.address, "listener.address", file) ?? cfg.listener.address;
        parseHostPort(cfg.listener.address, `${file}: listener.address`);
        cfg.listener.tlsCertFile = str(doc.listener.tls_cert_file, "listener.tls_cert_file", file);
        cfg.listener.tlsKeyFile = str(doc.listener.tls_key_file, "listener.tls_key_file", file);
        if (Boolean(cfg.listener.tlsCertFile) !== Boolean(cfg.listener.tlsKeyFile)) {
            throw new ConfigError(`${file}: listener.tls_cert_file and listener.tls_key_file go together`);
        }
    }
    if (doc.storage !== undefined) {
        if (!isObject(doc.storage))
            throw new ConfigError(`${file}: "storage" must be a mapping`);
        only(doc.storage, ["sqlite", "memory"], "storage.", file);
        if (isObject(doc.storage.sqlite)) {
            only(doc.storage.sqlite, ["path"], "storage.sqlite.", file);
            const p = str(doc.storage.sqlite.path, "storage.sqlite.path", file);
            if (!p)
                throw new ConfigError(`${file}: storage.sqlite.path is required`);
            cfg.storage = { type: "sqlite", path: p };
        }
        else if (doc.storage.memory !== undefined) {
            cfg.storage = { type: "memory" };
        }
        else {
            throw new ConfigError(`${file}: storage must name one backend: sqlite or memory`);
        }
    }
    if (doc.seal !== undefined) {
        if (!isObject(doc.seal))
            throw new ConfigError(`${file}: "seal" must be a mapping`);
        only(doc.seal, ["shamir", "auto"], "seal.", file);
        if (isObject(doc.seal.auto)) {
            only(doc.seal.auto, ["key_file"], "seal.auto.", file);
            const keyFile = str(doc.seal.auto.key_file, "seal.auto.key_file", file);
            if (!keyFile)
                throw new ConfigError(`${file}: seal.auto.key_file is required`);
            cfg.seal = { type: "auto", keyFile };
        }
        else if (doc.seal.shamir !== undefined) {
            cfg.seal = { type: "shamir" };
        }
        else {
            throw new ConfigError(`${file}: seal must name one type: shamir or auto`);
        }
    }
    if (doc.log_level !== undefined) {
        const level = str(doc.log_level, "log_level", file) ?? "info";
        if (!LOG_LEVELS.includes(level))
            throw new ConfigError(`${file}: log_level must be one of ${LOG_LEVELS.join(", ")}`);
        cfg.logLevel = level;
    }
    if (doc.max_request_size !== undefined) {
        const n = doc.max_request_size;
        if (typeof n !== "number" || !Number.isInteger(n) || n <= 0) {
            throw new ConfigError(`${file}: max_request_size must be a positive number of bytes`);
        }
        cfg.maxRequestSize = n;
    }
    if (doc.lease_tick !== undefined) {
        try {
            cfg.leaseTickSeconds = Math.max(1, parseDuration(doc.lease_tick, "lease_tick"));
        }
        catch (err) {
            throw new ConfigError(`${file}: ${err.message}`);
        }
    }
    return cfg;
}
export function parseHostPort(address, what) {
    const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(address);
    const port = m ? Number(m[2]) : NaN;
    if (!m || port < 0 || port > 65535)
        throw new ConfigError(`${what} must be host:port, got "${address}"`);
    return { host: m[1].replace(/^\[|\]$/g, ""), port };
}
