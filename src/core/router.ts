import { parseBool } from "./parse-bool.js";
import type { Backend, Operation, PathDef } from "./types.js";

/** A backend mounted at a path, with its compiled routes. */
export interface MountEntry {
  /** With trailing slash: `secret/`, `auth/kubernetes/`, `sys/`. */
  path: string;
  type: string;
  uuid: string;
  accessor: string;
  description: string;
  options: Record<string, string>;
  config: { default_lease_ttl: number; max_lease_ttl: number };
  local: boolean;
  seal_wrap: boolean;
  /** Auth methods live in the auth table and under `auth/`. */
  table: "mounts" | "auth";
}

export interface MountedBackend {
  entry: MountEntry;
  backend: Backend;
  routes: CompiledRoute[];
}

export interface CompiledRoute {
  def: PathDef;
  segments: string[];
  /** `*name` as the last segment: matches the rest of the path. */
  rest?: string;
}

export interface RouteMatch {
  mount: MountedBackend;
  def: PathDef;
  /** Path relative to the mount. */
  path: string;
  params: Record<string, string>;
}

export function compileRoutes(paths: PathDef[]): CompiledRoute[] {
  return paths.map((def) => {
    const segments = def.pattern === "" ? [] : def.pattern.split("/");
    const last = segments.at(-1);
    if (last?.startsWith("*")) return { def, segments: segments.slice(0, -1), rest: last.slice(1) };
    return { def, segments };
  });
}

/** Matches a mount-relative path against one route; returns its params or undefined. */
export function matchRoute(route: CompiledRoute, path: string): Record<string, string> | undefined {
  const parts = path === "" ? [] : path.split("/");
  if (route.rest === undefined ? parts.length !== route.segments.length : parts.length <= route.segments.length) {
    return undefined;
  }
  const params: Record<string, string> = {};
  for (let i = 0; i < route.segments.length; i++) {
    const seg = route.segments[i];
    const part = parts[i];
    if (seg.startsWith(":")) {
      if (part === "") return undefined;
      params[seg.slice(1)] = part;
    } else if (seg !== part) {
      return undefined;
    }
  }
  if (route.rest !== undefined) {
    const rest = parts.slice(route.segments.length).join("/");
    if (rest === "") return undefined;
    params[route.rest] = rest;
  }
  return params;
}

/** At most this many resolved paths are kept, each no longer than MAX_RESOLVED_PATH; the oldest goes first. */
const MAX_RESOLVED_PATHS = 4096;
const MAX_RESOLVED_PATH = 256;

/**
 * Longest-prefix routing of `/v1/<path>` to mounted backends. Mount paths are
 * kept sorted longest first, so `auth/kubernetes-prod/` wins over `auth/kubernetes/`
 * only when the request path really is below it.
 */
export function createRouter() {
  let mounts: MountedBackend[] = [];
  /**
   * Resolved routes by full path, for the paths clients repeat (their token
   * lookups, their secrets): matching walks a backend's route list and splits
   * the path once per route. Cleared whenever the mount table changes.
   */
  const resolved = new Map<string, { mount?: MountedBackend; match?: RouteMatch }>();

  const owner = (path: string) => mounts.find((m) => path.startsWith(m.entry.path) || path + "/" === m.entry.path);

  function resolve(path: string): { mount?: MountedBackend; match?: RouteMatch } {
    const mount = owner(path);
    if (!mount) return {};
    const rel = path.length >= mount.entry.path.length ? path.slice(mount.entry.path.length) : "";
    for (const route of mount.routes) {
      const params = matchRoute(route, rel);
      if (params) return { mount, match: { mount, def: route.def, path: rel, params } };
    }
    return { mount };
  }

  return {
    mount(entry: MountEntry, backend: Backend): MountedBackend {
      const mounted: MountedBackend = { entry, backend, routes: compileRoutes(backend.paths) };
      mounts = [...mounts.filter((m) => m.entry.path !== entry.path), mounted].sort(
        (a, b) => b.entry.path.length - a.entry.path.length,
      );
      resolved.clear();
      return mounted;
    },
    unmount(path: string): MountedBackend | undefined {
      const found = mounts.find((m) => m.entry.path === path);
      mounts = mounts.filter((m) => m.entry.path !== path);
      resolved.clear();
      return found;
    },
    /** The mount that owns `path`, if any. */
    mountFor: owner,
    /** The mount at exactly `path` (with trailing slash). */
    get(path: string): MountedBackend | undefined {
      return mounts.find((m) => m.entry.path === path);
    },
    all(): MountedBackend[] {
      return mounts;
    },
    /**
     * Resolves a full API path to a route. `undefined` mount → no such mount;
     * a mount with no matching route → `{mount}` only.
     */
    route(path: string): { mount?: MountedBackend; match?: RouteMatch } {
      const known = resolved.get(path);
      // Each request gets its own params: a handler may add to them.
      if (known) return known.match ? { mount: known.mount, match: { ...known.match, params: { ...known.match.params } } } : known;
      const found = resolve(path);
      if (path.length <= MAX_RESOLVED_PATH) {
        if (resolved.size >= MAX_RESOLVED_PATHS) resolved.delete(resolved.keys().next().value as string);
        resolved.set(path, found.match ? { mount: found.mount, match: { ...found.match, params: { ...found.match.params } } } : found);
      }
      return found;
    },
    clear() {
      mounts = [];
      resolved.clear();
    },
  };
}

export type Router = ReturnType<typeof createRouter>;

/**
 * Maps an HTTP method to the logical operation, as Vault does: `LIST`, or `GET`
 * with `?list=` true in any spelling Go's ParseBool takes (an empty value is no
 * flag; anything else is 400), is a list; `HEAD` reads, so that load balancers
 * can probe `sys/health`. `undefined` = method not allowed.
 */
export function operationFor(method: string, list: string | undefined): Operation | undefined {
  switch (method) {
    case "GET":
      return list !== undefined && list !== "" && parseBool(list, 'query parameter "list"') ? "list" : "read";
    case "LIST":
      return "list";
    case "HEAD":
      return "read";
    case "POST":
    case "PUT":
      return "update";
    case "PATCH":
      return "patch";
    case "DELETE":
      return "delete";
    default:
      return undefined;
  }
}
