import { randomBytes, randomUUID } from "node:crypto";
import { createTokenBackend } from "../auth/token/backend.js";
import { createKeyedLock } from "./keyed-lock.js";
import type { Barrier } from "../storage/barrier.js";
import type { StorageView } from "../storage/types.js";
import { badRequest } from "./errors.js";
import type { MountEntry, Router } from "./router.js";
import type { TokenStore } from "./tokens/store.js";
import type { BackendFactory, LeaseManager, Logger } from "./types.js";

/** Backend factories by mount type (`kv`, `kubernetes`, ...). */
export type BackendRegistry = Record<string, BackendFactory>;

interface MountTableDeps {
  barrier: Barrier;
  router: Router;
  registry: BackendRegistry;
  logger: Logger;
  tokens: TokenStore;
  leases: Pick<LeaseManager, "revokePrefix">;
}

export interface EnableParams {
  type: string;
  description?: string;
  config?: { default_lease_ttl?: number; max_lease_ttl?: number };
  options?: Record<string, string>;
  local?: boolean;
  seal_wrap?: boolean;
}

const TABLE_KEY = { mounts: "mounts", auth: "auth" } as const;

/**
 * The secrets-engine and auth-method tables: persisted under the barrier,
 * mounted into the router on unseal, changed by sys/mounts and sys/auth.
 */
export function createMountTable(deps: MountTableDeps) {
  const { barrier, router, registry, logger } = deps;
  const coreView = barrier.view("core/");
  const tables: Record<"mounts" | "auth", MountEntry[]> = { mounts: [], auth: [] };

  // One view per mount, made once: storageFor runs on every request.
  const views = new Map<string, StorageView>();
  function storageFor(entry: MountEntry): StorageView {
    let view = views.get(entry.uuid);
    if (!view) {
      view = barrier.view(`${entry.table === "auth" ? "auth" : "logical"}/${entry.uuid}/`);
      views.set(entry.uuid, view);
    }
    return view;
  }

  async function instantiate(entry: MountEntry) {
    const ctx = {
      storage: storageFor(entry),
      mountPath: entry.path,
      config: {
        defaultLeaseTtl: entry.config.default_lease_ttl,
        maxLeaseTtl: entry.config.max_lease_ttl,
        options: entry.options,
      },
      logger,
    };
    const factory = registry[entry.type];
    const backend =
      entry.type === "token" ? createTokenBackend({ tokens: deps.tokens }) : factory ? await factory(ctx) : undefined;
    if (!backend) throw badRequest(`unknown ${entry.table === "auth" ? "auth method" : "secrets engine"} type "${entry.type}"`);
    await backend.start?.(ctx);
    router.mount(entry, backend);
  }

  async function save(table: "mounts" | "auth") {
    await coreView.putJSON(TABLE_KEY[table], tables[table]);
  }

  // Changes of the mount tables run one at a time: two enables of one path must not both pass the clash check.
  const changes = createKeyedLock();

  async function enable(table: "mounts" | "auth", path: string, params: EnableParams): Promise<MountEntry> {
    const mountPath = fullPath(table, path);
    if (table === "mounts" && /^(sys|auth|cubbyhole|identity)\//.test(mountPath)) {
      throw badRequest(`cannot mount at reserved path "${mountPath}"`);
    }
    const clash = router.all().find((m) => m.entry.path.startsWith(mountPath) || mountPath.startsWith(m.entry.path));
    if (clash) throw badRequest(`path is already in use at ${clash.entry.path}`);
    if (params.type === "token" || (!registry[params.type])) {
      throw badRequest(`unknown ${table === "auth" ? "auth method" : "secrets engine"} type "${params.type}"`);
    }
    const entry = newEntry(table, mountPath, params);
    await instantiate(entry);
    tables[table] = [...tables[table], entry];
    await save(table);
    logger.info({ path: mountPath, type: params.type }, "mounted");
    return entry;
  }

  async function disable(table: "mounts" | "auth", path: string) {
    const mountPath = fullPath(table, path);
    const entry = tables[table].find((e) => e.path === mountPath);
    if (!entry) throw badRequest(`no ${table === "auth" ? "auth method" : "secrets engine"} mounted at "${mountPath}"`);
    if (entry.type === "token") throw badRequest("the token auth method cannot be disabled");
    // Vault revokes the mount's leases before unmounting so that dynamic secrets are cleaned up.
    await deps.leases.revokePrefix(mountPath);
    const mounted = router.unmount(mountPath);
    await mounted?.backend.stop?.();
    tables[table] = tables[table].filter((e) => e !== entry);
    await save(table);
    await clearView(storageFor(entry));
    views.delete(entry.uuid);
    logger.info({ path: mountPath }, "unmounted");
  }

  async function tune(table: "mounts" | "auth", path: string, config: EnableParams["config"]) {
    const mountPath = fullPath(table, path);
    const entry = tables[table].find((e) => e.path === mountPath);
    if (!entry) throw badRequest(`no mount at "${mountPath}"`);
    entry.config = { ...entry.config, ...config };
    await save(table);
  }

  function fullPath(table: "mounts" | "auth", path: string): string {
    const clean = path.replace(/^\/+|\/+$/g, "");
    if (clean === "" || clean.split("/").some((s) => s === "" || s === "." || s === "..")) {
      throw badRequest(`invalid mount path "${path}"`);
    }
    return table === "auth" ? `auth/${clean}/` : `${clean}/`;
  }

  return {
    storageFor,
    async load() {
      for (const table of ["mounts", "auth"] as const) {
        const stored = await coreView.getJSON<MountEntry[]>(TABLE_KEY[table]);
        tables[table] = stored ?? [];
      }
      if (!tables.auth.some((e) => e.type === "token")) {
        tables.auth.push(newEntry("auth", "auth/token/", { type: "token", description: "token based credentials" }));
        await save("auth");
      }
      for (const entry of [...tables.mounts, ...tables.auth]) {
        try {
          await instantiate(entry);
        } catch (err) {
          logger.error({ err, path: entry.path, type: entry.type }, "could not mount backend");
        }
      }
    },
    list(table: "mounts" | "auth"): MountEntry[] {
      return tables[table];
    },
    enable: (table: "mounts" | "auth", path: string, params: EnableParams) => changes.run("table", () => enable(table, path, params)),
    disable: (table: "mounts" | "auth", path: string) => changes.run("table", () => disable(table, path)),
    tune: (table: "mounts" | "auth", path: string, config: EnableParams["config"]) =>
      changes.run("table", () => tune(table, path, config)),
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

function newEntry(table: "mounts" | "auth", path: string, params: EnableParams): MountEntry {
  return {
    path,
    type: params.type,
    uuid: randomUUID(),
    accessor: `${table === "auth" ? "auth" : ""}${table === "auth" ? "_" : ""}${params.type}_${randomBytes(4).toString("hex")}`,
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
