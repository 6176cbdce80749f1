import { badRequest } from "../../core/errors.js";
import type { Handler, LogicalRequest, LogicalResponse, PathDef } from "../../core/types.js";
import { listSecretKeys, secretNotFound } from "./shared.js";
import { validateSecretPath } from "./store.js";

export type SecretData = Record<string, unknown>;

/**
 * An engine that keeps one JSON object per path, without versions or
 * metadata: KV version 1 and the cubbyhole. What differs between them is
 * where a caller's secrets live and what a read answers.
 */
export interface PassthroughOptions {
  /** The prefix (ending with `/`) of the caller's secrets inside the mount's view. */
  area(req: LogicalRequest): string;
  /**
   * Runs before every operation, and may throw to refuse it. It does not run
   * for the existence check, which the core makes before the ACL check.
   */
  admit?(req: LogicalRequest): void;
  /** Checks a write's data before it is stored (after the "missing data fields" check). */
  checkWrite?(data: SecretData): void;
  /** The read's answer for a stored object. */
  respond(data: SecretData): LogicalResponse;
  help: string;
}

/**
 * `<path>` (read, write, delete, list) and the mount's root (list only: `*path`
 * never matches an empty rest). A write stores the whole body, replacing what
 * was there; a missing secret reads as Vault's bare 404, and deleting one is a no-op.
 */
export function passthroughPaths(opts: PassthroughOptions): PathDef[] {
  const keyOf = (req: LogicalRequest) => opts.area(req) + validateSecretPath(req.params.path);
  const admitted =
    (handler: Handler): Handler =>
    (req) => {
      opts.admit?.(req);
      return handler(req);
    };
  const list = admitted((req) => listSecretKeys(req.storage, opts.area(req), req.params.path ?? ""));
  const write = admitted(async (req) => {
    // Vault: a write without any field is refused rather than storing an empty secret.
    if (Object.keys(req.data).length === 0) throw badRequest("missing data fields");
    opts.checkWrite?.(req.data);
    await req.storage.putJSON(keyOf(req), req.data);
    return undefined;
  });
  return [
    { pattern: "", ops: { list }, help: opts.help },
    {
      pattern: "*path",
      exists: async (req) => {
        // A bad path is answered by the handler, after the ACL check: the existence check must not answer first.
        let key: string;
        try {
          key = keyOf(req);
        } catch {
          return false;
        }
        return (await req.storage.get(key)) !== undefined;
      },
      ops: {
        read: admitted(async (req) => {
          const data = await req.storage.getJSON<SecretData>(keyOf(req));
          if (!data) throw secretNotFound();
          return opts.respond(data);
        }),
        create: write,
        update: write,
        delete: admitted(async (req) => {
          await req.storage.delete(keyOf(req));
          return undefined;
        }),
        list,
      },
      help: opts.help,
    },
  ];
}
