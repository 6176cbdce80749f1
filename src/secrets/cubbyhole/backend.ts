import { badRequest, internalError, permissionDenied } from "../../core/errors.js";
import type { Backend, BackendFactory, LogicalRequest } from "../../core/types.js";
import type { StorageView } from "../../storage/types.js";
import { passthroughPaths } from "../kv/index.js";

/** Keys deleted per transaction when a token's cubbyhole is destroyed. */
const CLEAR_PAGE = 500;

/**
 * The cubbyhole: a private key/value space per token, stored under
 * `<token key>/<path>` in the mount's view. The token key is the token store's
 * keyed hash, never the token itself, so storage keys reveal no token. No
 * token (root included) can reach another token's cubbyhole: the area comes
 * from the caller's own token, not from the path.
 */
export function createCubbyholeBackend(): Backend {
  return {
    paths: passthroughPaths({
      area: (req) => `${tokenKeyOf(req)}/`,
      admit: (req) => {
        if (!req.auth) throw permissionDenied();
        // Vault: a batch token has no storage entry to tie a cubbyhole to, and nothing would destroy it.
        if (req.auth.type !== "service") throw badRequest('cubbyhole operations are only supported by "service" type tokens');
      },
      respond: (data) => ({ data }),
      help: "Read, write, delete or list secrets private to the calling token; they are destroyed with it.",
    }),
  };
}

/** Registered as the `cubbyhole` mount type, which the core mounts once at `cubbyhole/`. */
export const cubbyholeBackendFactory: BackendFactory = () => createCubbyholeBackend();

/**
 * Deletes everything one token keeps in its cubbyhole, a page per transaction
 * so memory stays flat. Called when the token is revoked; `storage` is the
 * cubbyhole mount's view.
 */
export async function clearCubbyhole(storage: StorageView, tokenKey: string): Promise<void> {
  checkTokenKey(tokenKey);
  const area = `${tokenKey}/`;
  for (;;) {
    const keys = await storage.scan(area, undefined, CLEAR_PAGE);
    if (keys.length === 0) return;
    await storage.transaction(async (tx) => {
      for (const key of keys) await tx.delete(area + key);
    });
  }
}

function tokenKeyOf(req: LogicalRequest): string {
  if (!req.auth) throw permissionDenied();
  checkTokenKey(req.auth.key);
  return req.auth.key;
}

/** An empty key or one with a `/` would name another token's area, or all of them. */
function checkTokenKey(tokenKey: string) {
  if (tokenKey === "" || tokenKey.includes("/")) throw internalError("cubbyhole: a token key must be non-empty and without '/'");
}
