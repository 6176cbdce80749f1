import { badRequest } from "../../core/errors.js";
import { intListField } from "./fields.js";
import { updateExistingMetadata } from "./shared.js";
import { isDeleted, versionKey } from "./store.js";
/**
 * `delete/`, `undelete/` and `destroy/<path>` with `{versions: [...]}`. Versions
 * not in the table are ignored and a missing secret is a no-op, as in Vault.
 */
export function versionPaths(deps) {
    return [
        versionPath(deps, "delete", "Soft-delete versions; undelete can restore them.", (vm, now) => {
            if (!vm.destroyed && !isDeleted(vm, now))
                vm.deletion_time = now.toISOString();
        }),
        versionPath(deps, "undelete", "Restore soft-deleted versions.", (vm) => {
            if (!vm.destroyed)
                vm.deletion_time = "";
        }),
        versionPath(deps, "destroy", "Permanently remove the data of versions; their metadata remains.", async (vm, _now, drop) => {
            vm.destroyed = true;
            await drop();
        }),
    ];
}
function versionPath(deps, prefix, help, change) {
    const handler = (req) => {
        const versions = intListField(req.data, "versions") ?? [];
        if (versions.length === 0)
            throw badRequest("no version number provided");
        return updateExistingMetadata(deps, req.storage, req.params.path, async (meta, tx, path) => {
            const now = deps.now();
            for (const n of new Set(versions)) {
                const vm = meta.versions[String(n)];
                if (vm)
                    await change(vm, now, () => tx.delete(versionKey(path, n)));
            }
        });
    };
    return {
        pattern: `${prefix}/*path`,
        fields: { versions: { type: "any", description: "Version numbers: a list of integers or a comma-separated string." } },
        ops: { create: handler, update: handler },
        help,
    };
}
