import type { Backend, LogicalRequest, LogicalResponse, Operation, PathDef } from "../../core/types.js";
import { notFound, unsupportedOperation } from "../../core/errors.js";
import { createMemoryStore } from "../../storage/memory.js";
import type { PhysicalStore, StorageView } from "../../storage/types.js";
import { createView } from "../../storage/view.js";
import { createKvBackend } from "./backend.js";

/** Test-only: drives the KV backend's handlers the way the core's router does, over an in-memory store. */
export interface KvHarness {
  backend: Backend;
  store: PhysicalStore;
  storage: StorageView;
  /** Moves the fake clock forward. */
  advance(ms: number): void;
  now(): Date;
  call(operation: Operation, path: string, data?: Record<string, unknown>, storage?: StorageView): Promise<LogicalResponse | undefined>;
  /** A write as the core makes it: `create` when the path's existence check says it is new, else `update`. */
  write(path: string, data?: Record<string, unknown>): Promise<LogicalResponse | undefined>;
  /** Raw JSON at a key of the mount's view. */
  stored(key: string): Promise<unknown>;
}

export function createKvHarness(start = Date.parse("2024-05-01T10:00:00.000Z")): KvHarness {
  let time = start;
  const now = () => new Date(time);
  const backend = createKvBackend({ now });
  const store = createMemoryStore();
  const storage = createView(store, "logical/kv-test/");

  const request = (operation: Operation, path: string, data: Record<string, unknown>, view: StorageView) => {
    const found = findPath(backend.paths, path);
    if (!found) throw notFound();
    const req: LogicalRequest = {
      operation,
      path,
      params: found.params,
      data,
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
    async call(operation, path, data = {}, view = storage) {
      const { def, req } = request(operation, path, data, view);
      const handler = def.ops[operation];
      if (!handler) throw unsupportedOperation();
      return handler(req);
    },
    async write(path, data = {}) {
      const { def, req } = request("update", path, data, storage);
      const operation: Operation = def.exists && !(await def.exists(req)) ? "create" : "update";
      return harness.call(operation, path, data);
    },
    stored: (key) => storage.getJSON<unknown>(key),
  };
  return harness;
}

/** Pattern matching as the core's router does it: `:name` one segment, `*name` a non-empty rest. */
export function findPath(paths: PathDef[], path: string): { def: PathDef; params: Record<string, string> } | undefined {
  for (const def of paths) {
    const params = matchPattern(def.pattern, path);
    if (params) return { def, params };
  }
  return undefined;
}

function matchPattern(pattern: string, path: string): Record<string, string> | undefined {
  const segments = pattern.split("/");
  const parts = path.split("/");
  const params: Record<string, string> = {};
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i];
    if (segment.startsWith("*")) {
      const rest = parts.slice(i).join("/");
      if (rest === "") return undefined;
      params[segment.slice(1)] = rest;
      return params;
    }
    const part: string | undefined = parts[i];
    if (part === undefined) return undefined;
    if (segment.startsWith(":")) {
      if (part === "") return undefined;
      params[segment.slice(1)] = part;
    } else if (segment !== part) {
      return undefined;
    }
  }
  return parts.length === segments.length ? params : undefined;
}
