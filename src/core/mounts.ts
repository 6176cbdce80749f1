import type { Registry } from "prom-client";
import { randomBytes, randomUUID } from "node:crypto";
import { createTokenBackend } from "../auth/token/backend.js";
import { createKeyedLock } from "./keyed-lock.js";
import type { Barrier } from "../storage/barrier.js";
import type { StorageView } from "../storage/types.js";
import { badRequest } from "./errors.js";
import type { MountEntry, Router } from "./router.js";
import type { TokenStore } from "./tokens/store.js";
import type { BackendFactory, LeaseManager, Logger, MountLeases } from "./types.js";
import type { InvalidationBus } from "./invalidation.js";

/** Backend factories by mount type (`kv`, `kubernetes`, ...). */
/** The factories of every mountable type, per table: `kubernetes` is both an auth method and a secrets engine. */
export type BackendRegistry = { mounts: Record<string, BackendFactory>; auth: Record<string, BackendFactory> };

/** Vault's system-wide default and maximum lease TTL, 32 days: what a mount's 0 stands for. */
export const SYSTEM_LEASE_TTL = 768 * 3600;

/** Vault's `listing_visibility`: "unauth" lists the mount to unauthenticated UI calls; "" is the default. */
export const LISTING_VISIBILITIES = ["", "unauth", "hidden"] as const;
export type ListingVisibility = (typeof LISTING_VISIBILITIES)[number];

/** A mount's config as the table stores it; 0 TTLs mean "the system's". */
export interface MountConfig {
  default_lease_ttl: number;
  max_lease_ttl: number;
  /** Absent = "" (Vault shows the field only when it is set). */
  listing_visibility?: Exclude<ListingVisibility, "">;
}

/** A row of the mount or auth table. */
export type TableEntry = MountEntry & { config: MountConfig };

interface MountTableDeps {
  barrier: Barrier;
  router: Router;
  registry: BackendRegistry;
  logger: Logger;
  /** The core's metrics registry, handed to backends. */
  metrics?: Registry;
  tokens: TokenStore;
  leases: Pick<LeaseManager, "revokePrefix" | "list" | "lookup" | "register" | "forget">;
  /** Called after a table was changed and saved: other replicas reload theirs. */
  onChange?: () => void;
  /** Handed to every backend: whether this replica runs the once-only periodic work. */
  isLeader?: () => boolean;
  /** Handed to every backend: whether other replicas share the storage. */
  sharedStorage?: boolean;
  /** Handed to every backend: the invalidation bus. */
  invalidations?: InvalidationBus;
}

export interface EnableParams {
  type: string;
  description?: string;
  config?: { default_lease_ttl?: number; max_lease_ttl?: number };
  options?: Record<string, string>;
  local?: boolean;
  seal_wrap?: boolean;
}

/** What sys/mounts/<path>/tune may change; absent fields stay as they are. */
export interface TuneParams {
  description?: string;
  config?: { default_lease_ttl?: number; max_lease_ttl?: number; listing_visibility?: ListingVisibility };
  /** Merged into the mount's options. */
  options?: Record<string, string>;
}

type Table = "mounts" | "auth";

const TABLE_KEY = { mounts: "mounts", auth: "auth" } as const;

/** Types with one mount each, made by latchkey itself (Vault's singleton mounts). */
const SINGLETON_TYPES = new Set(["token", "cubbyhole", "system", "identity"]);

/** Paths a client can neither mount at nor move: Vault's protected mounts. */
const RESERVED_PATH = /^(sys|auth|cubbyhole|identity)\//;

/** The cubbyhole/ mount Vault always has; latchkey adds it once a cubbyhole engine is registered. */
const CUBBYHOLE: EnableParams = { type: "cubbyhole", description: "per-token private secret storage", local: true };

const tableNoun = (table: Table) => (table === "auth" ? "auth method" : "secrets engine");

/** The TTLs a mount really gives leases: its own, else the system's, and the default never above the max. */
export function effectiveLeaseTtls(config: Pick<MountConfig, "default_lease_ttl" | "max_lease_ttl">) {
  const maxTtl = config.max_lease_ttl || SYSTEM_LEASE_TTL;
  return { defaultTtl: Math.min(config.default_lease_ttl || SYSTEM_LEASE_TTL, maxTtl), maxTtl };
}

/** The leases of `entry`'s mount, read at its current path (a remount moves them). */
export function mountLeases(leases: Pick<LeaseManager, "list" | "lookup">, entry: Pick<MountEntry, "path">): MountLeases {
  return {
    async list(path) {
      const prefix = entry.path + path.replace(/^\/+|\/+$/g, "") + "/";
      return (await leases.list(prefix)).filter((key) => !key.endsWith("/")).map((key) => prefix + key);
    },
    lookup: async (leaseId) => (leaseId.startsWith(entry.path) ? leases.lookup(leaseId) : undefined),
  };
}

/** Where a mount's view lives under the barrier: `logical/<uuid>/`, or `auth/<uuid>/` for auth methods. */
export const storagePrefix = (entry: MountEntry) => `${entry.table === "auth" ? "auth" : "logical"}/${entry.uuid}/`;

/**
 * The secrets-engine and auth-method tables: persisted under the barrier,
 * mounted into the router on unseal, changed by sys/mounts, sys/auth and sys/remount.
 */
export function createMountTable(deps: MountTableDeps) {
  const { barrier, router, registry, logger, leases } = deps;
  const coreView = barrier.view("core/");
  const tables: Record<Table, TableEntry[]> = { mounts: [], auth: [] };

  // One view per mount, made once: storageFor runs on every request.
  const views = new Map<string, StorageView>();
  function storageFor(entry: MountEntry): StorageView {
    let view = views.get(entry.uuid);
    if (!view) {
      view = barrier.view(storagePrefix(entry));
      views.set(entry.uuid, view);
    }
    return view;
  }

  async function instantiate(entry: TableEntry) {
    const ctx = {
      storage: storageFor(entry),
      mountPath: entry.path,
      // Read from the entry each time, so a tune reaches the backend at its next request.
      config: {
        get defaultLeaseTtl() {
          return effectiveLeaseTtls(entry.config).defaultTtl;
        },
        get maxLeaseTtl() {
          return effectiveLeaseTtls(entry.config).maxTtl;
        },
        get options() {
          return entry.options;
        },
      },
      logger,
      metrics: deps.metrics,
      isLeader: deps.isLeader,
      leases: mountLeases(leases, entry),
      sharedStorage: deps.sharedStorage,
      invalidations: deps.invalidations,
    };
    const factory = registry[entry.table][entry.type];
    const backend =
      entry.type === "token" ? createTokenBackend({ tokens: deps.tokens }) : factory ? await factory(ctx) : undefined;
    if (!backend) throw badRequest(`unknown ${tableNoun(entry.table)} type "${entry.type}"`);
    await backend.start?.(ctx);
    router.mount(entry, backend);
  }

  async function save(table: Table) {
    await coreView.putJSON(TABLE_KEY[table], tables[table]);
    deps.onChange?.();
  }

  /**
   * Brings the router in line with the stored tables after another replica
   * changed them: new mounts are instantiated, removed ones unmounted (their
   * storage is the changing replica's to clear), moved ones mounted at their
   * new path, tuned ones take the stored config in place.
   */
  async function reload() {
    for (const table of ["mounts", "auth"] as const) {
      const stored = await coreView.getJSON<TableEntry[]>(TABLE_KEY[table]);
      if (!stored) continue;
      const current = new Map(tables[table].map((e) => [e.uuid, e]));
      const next: TableEntry[] = [];
      for (const entry of stored) {
        const existing = current.get(entry.uuid);
        current.delete(entry.uuid);
        if (existing && existing.path === entry.path) {
          // The router holds this object: a tune reaches the next request.
          Object.assign(existing, entry);
          next.push(existing);
          continue;
        }
        if (existing) await router.unmount(existing.path)?.backend.stop?.();
        try {
          await instantiate(entry);
          next.push(entry);
        } catch (err) {
          logger.error({ err, path: entry.path, type: entry.type }, "could not mount backend");
        }
      }
      for (const gone of current.values()) {
        await router.unmount(gone.path)?.backend.stop?.();
        views.delete(gone.uuid);
      }
      tables[table] = next;
    }
  }

  // Changes of the mount tables run one at a time: two enables of one path must not both pass the clash check.
  const changes = createKeyedLock();

  /** Refuses a path reserved for latchkey's own mounts, or one that overlaps a mount. */
  function checkFree(table: Table, mountPath: string) {
    if (table === "mounts" && RESERVED_PATH.test(mountPath)) {
      throw badRequest(`cannot mount at reserved path "${mountPath}"`);
    }
    const clash = router.all().find((m) => m.entry.path.startsWith(mountPath) || mountPath.startsWith(m.entry.path));
    if (clash) throw badRequest(`path is already in use at ${clash.entry.path}`);
  }

  async function enable(table: Table, path: string, params: EnableParams): Promise<MountEntry> {
    const mountPath = fullPath(table, path);
    checkFree(table, mountPath);
    if (SINGLETON_TYPES.has(params.type)) throw badRequest(`mount type of "${params.type}" is not mountable`);
    if (!registry[table][params.type]) throw badRequest(`unknown ${tableNoun(table)} type "${params.type}"`);
    const entry = newEntry(table, mountPath, params);
    await instantiate(entry);
    tables[table] = [...tables[table], entry];
    await save(table);
    logger.info({ path: mountPath, type: params.type }, "mounted");
    return entry;
  }

  function find(table: Table, mountPath: string): TableEntry {
    const entry = tables[table].find((e) => e.path === mountPath);
    if (!entry) throw badRequest(`no ${tableNoun(table)} mounted at "${mountPath}"`);
    return entry;
  }

  /** The token method and the singleton mounts are latchkey's own: Vault refuses to unmount or move them. */
  function checkMovable(table: Table, entry: TableEntry, verb: "unmount" | "remount") {
    if (entry.type === "token") throw badRequest(`the token auth method cannot be ${verb === "unmount" ? "disabled" : "moved"}`);
    if (table === "mounts" && SINGLETON_TYPES.has(entry.type)) throw badRequest(`cannot ${verb} "${entry.path}"`);
  }

  async function disable(table: Table, path: string) {
    const mountPath = fullPath(table, path);
    if (table === "mounts" && /^(sys|identity)\/$/.test(mountPath)) throw badRequest(`cannot unmount "${mountPath}"`);
    const entry = find(table, mountPath);
    checkMovable(table, entry, "unmount");
    // Vault revokes the mount's leases before unmounting so that dynamic secrets are cleaned up.
    await leases.revokePrefix(mountPath);
    const mounted = router.unmount(mountPath);
    await mounted?.backend.stop?.();
    tables[table] = tables[table].filter((e) => e !== entry);
    await save(table);
    await clearView(storageFor(entry));
    views.delete(entry.uuid);
    logger.info({ path: mountPath }, "unmounted");
  }

  async function tune(table: Table, path: string, params: TuneParams) {
    const entry = find(table, fullPath(table, path));
    const { listing_visibility, ...ttls } = params.config ?? {};
    // The entry is the router's own object: the core and the backend see the change from the next request on.
    const config: MountConfig = { ...entry.config, ...ttls };
    if (listing_visibility === "") delete config.listing_visibility;
    else if (listing_visibility !== undefined) config.listing_visibility = listing_visibility;
    entry.config = config;
    if (params.description !== undefined) entry.description = params.description;
    if (params.options) entry.options = { ...entry.options, ...params.options };
    await save(table);
  }

  /**
   * Moves a mount with its storage (kept under its uuid) to `to`. Vault revokes
   * the leases of the old path; latchkey revokes an auth method's leases (its
   * tokens name the old path and stop working anyway) and re-keys a secrets
   * engine's leases under the new path, so its secrets stay revocable there.
   */
  async function remount(from: string, to: string): Promise<{ from: string; to: string }> {
    const source = tablePath(from);
    const target = tablePath(to);
    if (source.table !== target.table) {
      throw badRequest(
        source.table === "auth" ? "cannot remount an auth method to a secrets path" : "cannot remount a secrets engine to an auth path",
      );
    }
    const { table } = source;
    const entry = find(table, source.path);
    checkMovable(table, entry, "remount");
    checkFree(table, target.path);

    if (table === "auth") await leases.revokePrefix(source.path);
    const moved: TableEntry = { ...entry, path: target.path };
    await instantiate(moved);
    tables[table] = tables[table].map((e) => (e === entry ? moved : e));
    try {
      await save(table);
    } catch (err) {
      tables[table] = tables[table].map((e) => (e === moved ? entry : e));
      await router.unmount(target.path)?.backend.stop?.();
      throw err;
    }
    // Re-keyed while both paths route here, and once more after, for a lease made meanwhile at the old path.
    if (table === "mounts") await rekeyLeases(source.path, target.path);
    await router.unmount(source.path)?.backend.stop?.();
    if (table === "mounts") await rekeyLeases(source.path, target.path);
    logger.info({ from: source.path, to: target.path }, "remounted");
    return { from: source.path, to: target.path };
  }

  /** Every lease id under `prefix`, depth first. */
  async function leaseIdsUnder(prefix: string): Promise<string[]> {
    const ids: string[] = [];
    for (const key of await leases.list(prefix)) {
      if (key.endsWith("/")) ids.push(...(await leaseIdsUnder(prefix + key)));
      else ids.push(prefix + key);
    }
    return ids;
  }

  /**
   * Gives each lease under `from` the same id under `to`, with its expiry, limit
   * and backend data. The new lease is written before the old one is forgotten,
   * so a crash between the two leaves a lease that still revokes the secret.
   */
  async function rekeyLeases(from: string, to: string) {
    for (const id of await leaseIdsUnder(from)) {
      const lease = await leases.lookup(id);
      if (!lease) continue;
      const remaining = Math.ceil(lease.expireTime - Date.now() / 1000);
      await leases.register({
        leaseId: to + id.slice(from.length),
        mountPath: to,
        path: lease.path,
        kind: lease.kind,
        // One already due is revoked by the next expiration tick, now through the moved mount.
        ttl: Math.max(1, remaining),
        maxExpireTime: lease.maxExpireTime,
        renewable: lease.renewable,
        tokenKey: lease.tokenKey,
        authTokenKey: lease.authTokenKey,
        internal: lease.internal,
      });
      await leases.forget(id);
    }
  }

  /** `auth/x` names an auth method, anything else a secrets engine (sys/remount's `from` and `to`). */
  function tablePath(path: string): { table: Table; path: string } {
    const clean = path.replace(/^\/+|\/+$/g, "");
    return clean.startsWith("auth/")
      ? { table: "auth", path: fullPath("auth", clean.slice("auth/".length)) }
      : { table: "mounts", path: fullPath("mounts", clean) };
  }

  function fullPath(table: Table, path: string): string {
    const clean = path.replace(/^\/+|\/+$/g, "");
    if (clean === "" || clean.split("/").some((s) => s === "" || s === "." || s === "..")) {
      throw badRequest(`invalid mount path "${path}"`);
    }
    return table === "auth" ? `auth/${clean}/` : `${clean}/`;
  }

  return {
    storageFor,
    storagePrefix,
    async load() {
      for (const table of ["mounts", "auth"] as const) {
        const stored = await coreView.getJSON<TableEntry[]>(TABLE_KEY[table]);
        tables[table] = stored ?? [];
      }
      if (!tables.auth.some((e) => e.type === "token")) {
        tables.auth.push(newEntry("auth", "auth/token/", { type: "token", description: "token based credentials" }));
        await save("auth");
      }
      // Only once the engine exists: a table that names a type no factory makes would fail every unseal.
      if (registry.mounts.cubbyhole && !tables.mounts.some((e) => e.type === "cubbyhole")) {
        tables.mounts.push(newEntry("mounts", "cubbyhole/", CUBBYHOLE));
        await save("mounts");
      }
      for (const entry of [...tables.mounts, ...tables.auth]) {
        try {
          await instantiate(entry);
        } catch (err) {
          logger.error({ err, path: entry.path, type: entry.type }, "could not mount backend");
        }
      }
    },
    list(table: Table): TableEntry[] {
      return tables[table];
    },
    /** Re-reads the tables another replica may have changed. */
    reload: () => changes.run("table", reload),
    enable: (table: Table, path: string, params: EnableParams) => changes.run("table", () => enable(table, path, params)),
    disable: (table: Table, path: string) => changes.run("table", () => disable(table, path)),
    tune: (table: Table, path: string, params: TuneParams) => changes.run("table", () => tune(table, path, params)),
    remount: (from: string, to: string) => changes.run("table", () => remount(from, to)),
    async stopAll() {
      for (const m of router.all()) {
        if (m.entry.uuid !== "system") {
          await m.backend.stop?.();
          router.unmount(m.entry.path);
        }
      }
    },
  };
}

export type MountTable = ReturnType<typeof createMountTable>;

function newEntry(table: Table, path: string, params: EnableParams): TableEntry {
  return {
    path,
    type: params.type,
    uuid: randomUUID(),
    accessor: `${table === "auth" ? "auth_" : ""}${params.type}_${randomBytes(4).toString("hex")}`,
    description: params.description ?? "",
    options: params.options ?? {},
    config: { default_lease_ttl: params.config?.default_lease_ttl ?? 0, max_lease_ttl: params.config?.max_lease_ttl ?? 0 },
    local: params.local ?? false,
    seal_wrap: params.seal_wrap ?? false,
    table,
  };
}

/** Deletes everything a disabled mount stored, in pages so memory stays flat. */
async function clearView(view: StorageView) {
  for (;;) {
    const keys = await view.scan("", undefined, 500);
    if (keys.length === 0) return;
    await view.transaction(async (tx) => {
      for (const key of keys) await tx.delete(key);
    });
  }
}
