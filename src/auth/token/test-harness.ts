import { LatchkeyError } from "../../core/errors.js";
import { coerceFields } from "../../core/fields.js";
import { compileRoutes, matchRoute } from "../../core/router.js";
import { must, tokenHarness } from "../../core/tokens/test-harness.js";
import type { TokenAuthResult } from "../../core/tokens/types.js";
import type { LogicalResponse, Operation, TokenEntry } from "../../core/types.js";
import { createMemoryStore } from "../../storage/memory.js";
import { createView } from "../../storage/view.js";
import { createTokenBackend } from "./backend.js";

export type Response = (LogicalResponse & { authResult?: TokenAuthResult }) | undefined;

/** A caller: its token, its entry, and whether its policies grant sudo on the path (root tokens always do). */
export interface Caller {
  token: string;
  entry: TokenEntry;
  sudo?: boolean;
}

/**
 * A token backend over a real store; `call` does what the core does: find the
 * route for a mount-relative path, coerce fields, tell whether the caller has
 * sudo, invoke. For unit tests.
 */
export async function tokenBackendHarness(existing: string[] = ["web", "db"]) {
  const h = tokenHarness();
  const backend = createTokenBackend({ tokens: h.tokens, policyExists: async (name) => existing.includes(name) });
  const root = await h.root();
  const storage = createView(createMemoryStore());
  const routes = compileRoutes(backend.paths);
  const call = async (
    path: string,
    operation: Operation,
    data: Record<string, unknown> = {},
    caller: Caller = root,
  ): Promise<Response> => {
    const route = routes.find((r) => matchRoute(r, path) !== undefined);
    const def = route?.def;
    const handler = def?.ops[operation] ?? (operation === "create" ? def?.ops.update : undefined);
    if (!route || !def || !handler) throw new Error(`no ${operation} on ${path}`);
    return handler({
      operation,
      path,
      params: matchRoute(route, path) ?? {},
      data: coerceFields(def.fields, data),
      auth: caller.entry,
      sudo: caller.sudo ?? caller.entry.policies.includes("root"),
      clientToken: def.needsClientToken ? caller.token : undefined,
      mountPath: "auth/token/",
      connection: { remoteAddress: "127.0.0.1" },
      storage,
      requestId: "req-1",
    });
  };
  /** Creates a token through `path` (`create`, `create-orphan`, `create/<role>`) and reads back its stored entry. */
  const create = async (data: Record<string, unknown>, caller: Caller = root, path = "create") => {
    const auth = must((await call(path, "update", data, caller))?.authResult, "auth block");
    const entry: TokenEntry = must(await h.tokens.lookupByAccessor(auth.accessor), "token entry");
    return { token: auth.client_token, auth, entry };
  };
  return { h, backend, root, call, create, storage };
}

/** The status and message of the LatchkeyError a promise rejects with; anything else fails the test. */
export async function failure(promise: Promise<unknown>) {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof LatchkeyError)) throw new Error(`expected a LatchkeyError, got ${String(err)}`);
  return { status: err.status, message: err.message };
}
