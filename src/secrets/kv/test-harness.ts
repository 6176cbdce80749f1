import type { Backend, LogicalRequest, LogicalResponse, Operation, PathDef, TokenEntry } from "../../core/types.js";
import { notFound, unsupportedOperation } from "../../core/errors.js";
import { coerceFields } from "../../core/fields.js";
import { compileRoutes, matchRoute } from "../../core/router.js";
import { createMemoryStore } from "../../storage/memory.js";
import type { PhysicalStore, StorageView } from "../../storage/types.js";
import { createView } from "../../storage/view.js";
import { createKvBackend } from "./backend.js";

/**
 * Test-only: drives a backend's handlers as the core does (its router,
 * existence check and field coercion), over an in-memory store, without HTTP.
 * The KV harness drives version 2; `backend` drives another engine.
 */
export interface KvHarness {
  backend: Backend;
  store: PhysicalStore;
  storage: StorageView;
  /** Moves the fake clock forward. */
  advance(ms: number): void;
  now(): Date;
  call(
    operation: Operation,
    path: string,
    data?: Record<string, unknown>,
    storage?: StorageView,
    auth?: TokenEntry,
  ): Promise<LogicalResponse | undefined>;
  /** A write as the core makes it: `create` when the path's existence check says it is new, else `update`. */
  write(path: string, data?: Record<string, unknown>, auth?: TokenEntry): Promise<LogicalResponse | undefined>;
  /** The existence check the core makes before a write to `path`; false for a path without one. */
  exists(path: string, auth?: TokenEntry): Promise<boolean>;
}

export function createKvHarness(
  start = Date.parse("2024-05-01T10:00:00.000Z"),
  opts: { backend?: (now: () => Date) => Backend } = {},
): KvHarness {
  let time = start;
  const now = () => new Date(time);
  const backend = opts.backend ? opts.backend(now) : createKvBackend({ now });
  const store = createMemoryStore();
  const storage = createView(store, "logical/kv-test/");

  const request = (operation: Operation, path: string, data: Record<string, unknown>, view: StorageView, auth?: TokenEntry) => {
    const found = findPath(backend.paths, path);
    if (!found) throw notFound();
    const req: LogicalRequest = {
      operation,
      path,
      params: found.params,
      data: coerceFields(found.def.fields, data),
      auth,
      mountPath: "secret/",
      connection: { remoteAddress: "127.0.0.1" },
      storage: view,
      requestId: "test-request",
    };
    return { def: found.def, req };
  };

  const harness: KvHarness = {
    backend,
    store,
    storage,
    advance: (ms) => {
      time += ms;
    },
    now,
    async call(operation, path, data = {}, view = storage, auth) {
      const { def, req } = request(operation, path, data, view, auth);
      const handler = def.ops[operation];
      if (!handler) throw unsupportedOperation();
      return handler(req);
    },
    async write(path, data = {}, auth) {
      const { def, req } = request("update", path, data, storage, auth);
      const operation: Operation = def.exists && !(await def.exists(req)) ? "create" : "update";
      return harness.call(operation, path, data, storage, auth);
    },
    async exists(path, auth) {
      const { def, req } = request("update", path, {}, storage, auth);
      return def.exists ? def.exists(req) : false;
    },
  };
  return harness;
}

/** The route the core's router picks for a mount-relative path. */
export function findPath(paths: PathDef[], path: string): { def: PathDef; params: Record<string, string> } | undefined {
  for (const route of compileRoutes(paths)) {
    const params = matchRoute(route, path);
    if (params) return { def: route.def, params };
  }
  return undefined;
}
