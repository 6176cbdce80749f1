import type { Leadership } from "../ha/leadership.js";
import type { Barrier } from "../../storage/barrier.js";
import type { AuditTable } from "../audit-table.js";
import type { AuditBroker } from "../audit/broker.js";
import { mirroredResponse, rawJson } from "../envelope.js";
import { badRequest } from "../errors.js";
import type { createMetrics } from "../metrics.js";
import type { MountTable } from "../mounts.js";
import type { PolicyStore } from "../policy/store.js";
import type { Router } from "../router.js";
import type { SealManager } from "../seal/seal.js";
import type { TokenStore } from "../tokens/store.js";
import type { Wrapping } from "../wrapping.js";
import type { Backend, LeaseManager, LogicalRequest, PathDef } from "../types.js";
import { auditPaths } from "./audit.js";
import { leasePaths } from "./leases.js";
import { mountPaths } from "./mounts.js";
import { policyPaths } from "./policies.js";
import { quotaPaths, type QuotaStore } from "./quotas.js";
import { sealPaths } from "./seal.js";
import { wrappingPaths } from "./wrapping.js";

/** What the system backend needs from the core. */
export interface SysCore {
  barrier: Barrier;
  sealManager: SealManager;
  sealType: "shamir" | "auto";
  router: Router;
  auditTable: AuditTable;
  quotas: QuotaStore;
  audit: AuditBroker;
  metrics: ReturnType<typeof createMetrics>;
  ha: { leadership: Leadership; leaderAddress(): Promise<string> };
  isSealed(): boolean;
  /** Rotates the barrier keyring and tells the other replicas. */
  rotateKeyring(): Promise<number>;
  unsealed(): Promise<void>;
  seal(): Promise<void>;
  initialize(params: { secretShares: number; secretThreshold: number }): Promise<{ keys: Uint8Array[]; rootToken: string }>;
  readonly services: { policies: PolicyStore; leases: LeaseManager; tokens: TokenStore; mounts: MountTable; wrapping: Wrapping };
}

/** The `sys/` mount: control of the server itself. */
export function createSysBackend(core: SysCore): Backend {
  return {
    paths: [
      ...sealPaths(core),
      ...mountPaths(core),
      ...policyPaths(core),
      ...leasePaths(core),
      ...auditPaths(core),
      ...quotaPaths(core),
      ...miscPaths(core),
      ...wrappingPaths(core),
    ],
  };
}

function miscPaths(core: SysCore): PathDef[] {
  // Vault's fields are comma-separated string lists; `path` is the older name of `paths`.
  const pathFields = { paths: { type: "string_list" as const }, path: { type: "string_list" as const } };
  const capabilities = async (req: LogicalRequest, policies: string[], metadata: Record<string, string>) => {
    const raw = req.data.paths ?? req.data.path;
    const paths = Array.isArray(raw) ? raw.filter((p): p is string => typeof p === "string") : [];
    if (paths.length === 0) throw badRequest('missing required field "paths"');
    const acl = await core.services.policies.aclFor(policies);
    const byPath = new Map<string, string[]>();
    for (const p of paths) {
      const caps = policies.includes("root") ? ["root"] : acl.check(p, "read", { metadata }).capabilities;
      // Sorted, as Vault answers.
      byPath.set(p, caps.length ? [...caps].sort() : ["deny"]);
    }
    // Vault's older clients read a single path's answer from `capabilities`.
    if (paths.length === 1) byPath.set("capabilities", byPath.get(paths[0]) ?? ["deny"]);
    // fromEntries: a path named like an Object.prototype key stays a plain field.
    return mirroredResponse(Object.fromEntries(byPath));
  };
  return [
    {
      pattern: "metrics",
      fields: { format: { type: "string", description: '"prometheus" for the text exposition; default: Vault\'s JSON' } },
      ops: {
        read: async (req) => {
          const format = req.data.format ?? "";
          if (format === "prometheus") {
            return { raw: { contentType: core.metrics.contentType, body: await core.metrics.text() } };
          }
          if (format !== "") throw badRequest(`metric response format "${String(format)}" unknown: use "prometheus" or none`);
          return rawJson(await core.metrics.json());
        },
      },
    },
    {
      pattern: "capabilities-self",
      fields: pathFields,
      ops: { update: async (req) => capabilities(req, req.auth?.policies ?? [], req.auth?.metadata ?? {}) },
    },
    {
      pattern: "capabilities",
      sudo: true,
      fields: { token: { type: "string" }, ...pathFields },
      ops: {
        update: async (req) => {
          const entry = typeof req.data.token === "string" ? await core.services.tokens.lookup(req.data.token) : undefined;
          if (!entry) throw badRequest("invalid token");
          return capabilities(req, entry.policies, entry.metadata);
        },
      },
    },
    {
      pattern: "capabilities-accessor",
      sudo: true,
      fields: { accessor: { type: "string" }, ...pathFields },
      ops: {
        update: async (req) => {
          const accessor = req.data.accessor;
          if (typeof accessor !== "string" || accessor === "") throw badRequest('missing required field "accessor"');
          const entry = await core.services.tokens.lookupByAccessor(accessor);
          if (!entry) throw badRequest("invalid accessor");
          return capabilities(req, entry.policies, entry.metadata);
        },
      },
    },
    {
      pattern: "internal/ui/mounts/*path",
      ops: {
        read: async (req) => {
          const mount = core.router.mountFor(req.params.path);
          if (!mount) throw badRequest(`no mount found for path "${req.params.path}"`);
          const path = mount.entry.path;
          return { data: { path, type: mount.entry.type, options: mount.entry.options, description: mount.entry.description } };
        },
      },
    },
    {
      pattern: "rotate",
      sudo: true,
      ops: {
        update: async () => {
          await core.rotateKeyring();
          return {};
        },
      },
    },
    {
      pattern: "key-status",
      ops: {
        read: async () => {
          const { term, installTime } = core.barrier.keyStatus();
          return mirroredResponse({ term, install_time: installTime });
        },
      },
    },
  ];
}
