import { formatDuration } from "./duration.js";
import { boolField, durationField, nonNegativeIntField } from "./fields.js";
import { configKey, readConfig } from "./store.js";
/** `config`: mount-wide defaults that a secret's own metadata can tighten. */
export function configPath() {
    return {
        pattern: "config",
        fields: {
            max_versions: { type: "int", description: "Versions kept per secret; 0 means the default of 10." },
            cas_required: { type: "bool", description: "Require `options.cas` on every write in this mount." },
            delete_version_after: { type: "duration", description: "Soft-delete versions this long after they are written; 0s = never." },
        },
        ops: { read: readConfigOp, create: writeConfig, update: writeConfig },
        help: "Configure the KV version 2 mount: max_versions, cas_required, delete_version_after.",
    };
}
async function readConfigOp(req) {
    const config = await readConfig(req.storage);
    return {
        data: {
            cas_required: config.cas_required,
            delete_version_after: formatDuration(config.delete_version_after),
            max_versions: config.max_versions,
        },
    };
}
async function writeConfig(req) {
    const maxVersions = nonNegativeIntField(req.data, "max_versions");
    const casRequired = boolField(req.data, "cas_required");
    const deleteAfter = durationField(req.data, "delete_version_after");
    await req.storage.transaction(async (tx) => {
        const config = await readConfig(tx);
        if (maxVersions !== undefined)
            config.max_versions = maxVersions;
        if (casRequired !== undefined)
            config.cas_required = casRequired;
        if (deleteAfter !== undefined)
            config.delete_version_after = deleteAfter;
        await tx.putJSON(configKey, config);
    });
    return undefined;
}
