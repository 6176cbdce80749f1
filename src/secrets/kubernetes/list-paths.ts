import { notFound } from "../../core/errors.js";
import type { LogicalRequest, PathDef } from "../../core/types.js";
import type { StorageView } from "../../storage/types.js";

/** `<prefix>` and `<prefix>/` answer LIST with the stored names, or 404 when there are none (Vault's list semantics). */
export function listPaths(prefix: string, help: string, names: (s: StorageView) => Promise<string[]>): PathDef[] {
  const list = async (req: LogicalRequest) => {
    const keys = await names(req.storage);
    if (keys.length === 0) throw notFound("");
    return { data: { keys } };
  };
  return [prefix, `${prefix}/`].map((pattern) => ({ pattern, ops: { list }, help }));
}
