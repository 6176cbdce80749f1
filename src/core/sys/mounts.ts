import { randomUUID } from "node:crypto";
import { mirroredResponse } from "../envelope.js";
import { badRequest, notFound } from "../errors.js";
import { effectiveLeaseTtls, LISTING_VISIBILITIES, type ListingVisibility, type TableEntry, type TuneParams } from "../mounts.js";
import { normaliseKvMount, normaliseKvTune } from "../../secrets/kv/index.js";
import { parseDuration } from "../tokens/duration.js";
import type { LogicalRequest, PathDef } from "../types.js";
import { VERSION } from "../version.js";
import type { SysCore } from "./backend.js";

/** sys/mounts, sys/auth and sys/remount: enable, disable, list, tune and move secrets engines and auth methods. */
export function mountPaths(core: SysCore): PathDef[] {
  return [tablePaths(core, "mounts"), tablePaths(core, "auth"), remountPaths(core)].flat();
}

/** Every built-in backend reports latchkey's own version, as Vault's do (`v1.x.y+builtin.vault`). */
const RUNNING_VERSION = `v${VERSION}+builtin`;

/**
 * A mount as sys/mounts and sys/auth list it: every field Vault's response
 * schema requires. `options` is null for a mount without any, as Vault shows.
 */
export function describeMount(e: TableEntry) {
  const config: Record<string, unknown> = {
    default_lease_ttl: e.config.default_lease_ttl,
    max_lease_ttl: e.config.max_lease_ttl,
    force_no_cache: false,
    ...(e.config.listing_visibility && { listing_visibility: e.config.listing_visibility }),
    // latchkey auth methods issue the token type their role asks for, else service tokens.
    ...(e.table === "auth" && { token_type: "default-service" }),
  };
  return {
    accessor: e.accessor,
    config,
    deprecation_status: "supported",
    description: e.description,
    external_entropy_access: false,
    local: e.local,
    options: Object.keys(e.options).length > 0 ? e.options : null,
    plugin_version: "",
    running_plugin_version: RUNNING_VERSION,
    running_sha256: "",
    seal_wrap: e.seal_wrap,
    type: e.type,
    uuid: e.uuid,
  };
}

function tablePaths(core: SysCore, table: "mounts" | "auth"): PathDef[] {
  const mounts = () => core.services.mounts;
  const strip = (path: string) => (table === "auth" ? path.replace(/^auth\//, "") : path);
  const listAll = async () => {
    const entries: TableEntry[] = [...mounts().list(table)];
    const sys = core.router.get("sys/");
    if (table === "mounts" && sys) entries.push(sys.entry);
    // Sorted by path, as Vault's JSON (a Go map) is.
    const data = Object.fromEntries(
      entries.map((e) => [strip(e.path), describeMount(e)] as const).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    );
    return mirroredResponse(data);
  };
  const find = (path: string) => {
    const clean = path.replace(/^\/+|\/+$/g, "") + "/";
    const full = table === "auth" ? `auth/${clean}` : clean;
    const entry = mounts().list(table).find((e) => e.path === full);
    if (!entry) throw badRequest(`no ${table === "auth" ? "auth method" : "secrets engine"} mounted at "${clean}"`);
    return entry;
  };
  const readTune = (e: TableEntry) => {
    // Vault answers with the TTLs the mount really uses: the system's where its own is 0.
    const { defaultTtl, maxTtl } = effectiveLeaseTtls(e.config);
    return mirroredResponse({
      default_lease_ttl: defaultTtl,
      max_lease_ttl: maxTtl,
      force_no_cache: false,
      description: e.description,
      ...(Object.keys(e.options).length > 0 && { options: e.options }),
      ...(e.config.listing_visibility && { listing_visibility: e.config.listing_visibility }),
      ...(table === "auth" && { token_type: "default-service" }),
    });
  };
  return [
    { pattern: table, ops: { read: listAll } },
    {
      pattern: `${table}/*path`,
      sudo: table === "auth",
      fields: {
        type: { type: "string" },
        description: { type: "string" },
        config: { type: "object" },
        options: { type: "map" },
        local: { type: "bool" },
        seal_wrap: { type: "bool" },
        listing_visibility: { type: "string" },
      },
      ops: {
        read: async (req) => {
          const path = req.params.path;
          if (path.endsWith("/tune")) return readTune(find(path.slice(0, -"/tune".length)));
          return mirroredResponse(describeMount(find(path)));
        },
        update: async (req) => {
          const path = req.params.path;
          if (path.endsWith("/tune")) {
            const mountPath = path.slice(0, -"/tune".length);
            await mounts().tune(table, mountPath, tuneParams(req, find(mountPath)));
            return {};
          }
          const type = req.data.type;
          if (typeof type !== "string" || type === "") throw badRequest('missing required field "type"');
          const config = (req.data.config ?? {}) as Record<string, unknown>;
          // kv-v1 and kv-v2 are kv with the version set, as Vault stores them.
          const { type: mountType, options } = normaliseKvMount(type, stringOptions((req.data.options ?? {}) as Record<string, unknown>));
          await mounts().enable(table, path, {
            type: mountType,
            description: req.data.description as string | undefined,
            config: {
              default_lease_ttl: config.default_lease_ttl !== undefined ? parseDuration(config.default_lease_ttl, "config.default_lease_ttl") : undefined,
              max_lease_ttl: config.max_lease_ttl !== undefined ? parseDuration(config.max_lease_ttl, "config.max_lease_ttl") : undefined,
            },
            options,
            local: req.data.local as boolean | undefined,
            seal_wrap: req.data.seal_wrap as boolean | undefined,
          });
          return {};
        },
        delete: async (req) => {
          await mounts().disable(table, req.params.path);
          return {};
        },
      },
    },
  ];
}

/** The body of a POST to sys/mounts/<path>/tune or sys/auth/<path>/tune, checked. */
function tuneParams(req: LogicalRequest, entry: TableEntry): TuneParams {
  const config: NonNullable<TuneParams["config"]> = {};
  for (const field of ["default_lease_ttl", "max_lease_ttl"] as const) {
    const value = req.data[field];
    // Vault's "system" puts the mount back on the system's TTL.
    if (value !== undefined) config[field] = value === "system" ? 0 : parseDuration(value, field);
  }
  const visibility = req.data.listing_visibility;
  if (visibility !== undefined) {
    if (!LISTING_VISIBILITIES.includes(visibility as ListingVisibility)) {
      throw badRequest(`invalid listing_visibility "${String(visibility)}": must be "unauth", "hidden" or ""`);
    }
    config.listing_visibility = visibility as ListingVisibility;
  }
  const options =
    req.data.options === undefined
      ? undefined
      : normaliseKvTune(entry.type, entry.options, { ...entry.options, ...stringOptions(req.data.options as Record<string, unknown>) });
  return { config, description: req.data.description as string | undefined, options };
}

/** Migrations kept for sys/remount/status; the oldest are dropped past this many. */
const MIGRATIONS_KEPT = 100;

/**
 * sys/remount and sys/remount/status. Vault moves a mount in the background
 * and answers with a migration id to poll; latchkey moves it before answering,
 * so the id it returns already reads "success".
 */
function remountPaths(core: SysCore): PathDef[] {
  const migrations = new Map<string, { source_mount: string; target_mount: string; status: "success" }>();
  return [
    {
      pattern: "remount",
      sudo: true,
      fields: { from: { type: "string", required: true }, to: { type: "string", required: true } },
      ops: {
        update: async (req) => {
          const { from, to } = await core.services.mounts.remount(req.data.from as string, req.data.to as string);
          const id = randomUUID();
          migrations.set(id, { source_mount: from, target_mount: to, status: "success" });
          for (const old of migrations.keys()) {
            if (migrations.size <= MIGRATIONS_KEPT) break;
            migrations.delete(old);
          }
          return mirroredResponse({ migration_id: id });
        },
      },
    },
    {
      pattern: "remount/status/:migration_id",
      ops: {
        read: async (req) => {
          const info = migrations.get(req.params.migration_id);
          if (!info) throw notFound(`no mount migration with id "${req.params.migration_id}"`);
          return mirroredResponse({ migration_id: req.params.migration_id, migration_info: info });
        },
      },
    },
  ];
}

/** Option values as the table stores them: strings (Vault's options are a map of strings). */
function stringOptions(options: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(options)) {
    if (typeof v !== "string" && typeof v !== "number" && typeof v !== "boolean") {
      throw badRequest(`field "options.${k}" must be a string`);
    }
    out[k] = String(v);
  }
  return out;
}
