import { randomBytes } from "node:crypto";
import { badRequest, upstreamError } from "../../core/errors.js";
import type { FieldSchema, LeaseCommit, Logger, LogicalRequest, LogicalResponse, PathDef } from "../../core/types.js";
import { quoted, stringList } from "../../core/input.js";
import { targetCa, type GatewayFiles } from "./clusters.js";
import { selectorMatches } from "../../auth/kubernetes/namespace-selector.js";
import { kubeFailure, targetLabel } from "./failures.js";
import { DEFAULT_NAME_TEMPLATE, LEASE_LABEL, MANAGED_BY, MOUNT_LABEL, randomSuffix, renderName } from "./objects.js";
import { issuing } from "./liveness.js";
import { createAhead, deleteObjects, issue, planObjects, type Issued, type IssueSpec } from "./provision.js";
import { PREPARED_MAX_AGE_MS, type Prepared, type PreparedPool } from "./prepared.js";
import type { StorageView } from "../../storage/types.js";
import { namespaceSelector, roleName } from "./path-roles.js";
import { deleteIntent, getIntent, getRole, getTarget, putIntent } from "./store.js";
import type { ClusterApi, EngineRole, IntentRecord, LeaseInternal, ObjectRef, TargetClients } from "./types.js";

/** The API server refuses TokenRequests for less than ten minutes (`expirationSeconds` minimum 600). */
const MIN_TOKEN_SECONDS = 600;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export const CREDS_FIELDS: Record<string, FieldSchema> = {
  kubernetes_namespace: {
    type: "string",
    description: "Namespace of the credentials; may be left out when the role allows exactly one",
  },
  ttl: { type: "duration", description: "Lease TTL; default the role's token_default_ttl, capped by its token_max_ttl" },
  audiences: { type: "string_list", description: "Token audiences; default the role's token_default_audiences" },
  cluster_role_binding: {
    type: "bool",
    default: false,
    description: "Bind with a ClusterRoleBinding (cluster-wide) instead of a RoleBinding; needs a ClusterRole",
  },
};

export interface CredsDeps {
  clients: TargetClients;
  /** This process's boot id, recorded in its intents. */
  boot: string;
  files: GatewayFiles;
  logger: Logger;
  mountId: () => Promise<string>;
  /** The mount's lease TTLs, seconds; 0 = the system's. */
  limits: { defaultLeaseTtl: number; maxLeaseTtl: number };
  /** Milliseconds. */
  now: () => number;
  /** Called when a failed issue could not delete what it made: its intent is to be reconciled soon, with backoff. */
  abandoned?: (ref: string) => void;
  /** Credentials made ahead, for roles with `prepared_credentials`; without it, every issue makes all its objects. */
  prepared?: PreparedPool;
  /** The mount's view, for the work done outside a request (making prepared credentials). */
  storage?: StorageView;
}

/** `creds/<role>`: a service-account token for the role's cluster, with a lease that deletes what it made. */
export function credsPath(deps: CredsDeps): PathDef {
  return {
    pattern: "creds/:name",
    fields: CREDS_FIELDS,
    ops: { update: (req) => issueCreds(req, deps) },
    help: "Issue Kubernetes credentials for a role; revoking the lease deletes everything it created.",
  };
}

async function issueCreds(req: LogicalRequest, deps: CredsDeps): Promise<LogicalResponse> {
  const name = roleName(req);
  const role = await getRole(req.storage, name);
  if (!role) throw badRequest(`role ${quoted(name)} does not exist`, "LK_ERR_ROLE_NOT_FOUND");
  const target = await getTarget(req.storage, role.target);
  if (!target) {
    throw badRequest(
      role.target === "" ? `no config: write ${req.mountPath}config first` : `role ${quoted(name)} uses ${targetLabel(role.target)}, which does not exist`,
    );
  }
  const api = await deps.clients.clientFor(role.target, target);
  const namespace = await namespaceFor(role, name, req.data.kubernetes_namespace, api, deps.logger, req.signal);
  const clusterRoleBinding = req.data.cluster_role_binding === true || role.clusterRoleBinding;
  if (clusterRoleBinding && role.mode === "fixed") throw badRequest(`"cluster_role_binding" applies only to dynamic roles`);
  if (clusterRoleBinding && role.kubernetesRoleType !== "ClusterRole") {
    throw badRequest(`"cluster_role_binding" needs a role whose "kubernetes_role_type" is ClusterRole`);
  }
  const ttl = leaseTtl(role, req.data.ttl, deps.limits);
  const requestedAudiences = stringList(req.data.audiences, "audiences");
  const nowSeconds = Math.floor(deps.now() / 1000);
  const base = { roleName: name, role, namespace, clusterRoleBinding, target: role.target };
  const preparing = deps.prepared && preparable(role) ? { key: [req.mountPath, name, namespace, clusterRoleBinding].join("\0"), snapshot: JSON.stringify(role) } : undefined;
  const prepared = preparing && deps.prepared?.take(preparing.key, preparing.snapshot, api);
  const objects = prepared ?? (await leaseObjects(base, req, deps, nowSeconds));
  const spec: IssueSpec = {
    ...base,
    name: objects.name,
    labels: objects.labels,
    annotations: objects.annotations,
    audiences: requestedAudiences.length > 0 ? requestedAudiences : role.tokenDefaultAudiences,
    expirationSeconds: Math.max(MIN_TOKEN_SECONDS, ttl),
  };
  const { ref } = objects;
  const lease = { ref, role: name, target: role.target };
  const intent: IntentRecord = {
    ...lease,
    objects: objects.objects,
    state: "pending",
    createdAt: nowSeconds,
    expiresAt: nowSeconds + ttl,
    writer: deps.boot,
    mountPath: req.mountPath,
  };
  const ca = targetCa(target, deps.files);
  const recorded = await issueRecorded(req, deps, api, spec, intent, prepared);
  const { issued } = recorded;
  let { commit } = recorded;
  const pool = deps.prepared;
  if (preparing && pool) {
    // Refilled once this issue has its lease, so that making the next one does not slow this one down.
    const { key, snapshot } = preparing;
    const storage = deps.storage ?? req.storage;
    const refill = () => pool.fill(key, role.preparedCredentials ?? 0, () => prepare(base, snapshot, api, storage, req, deps));
    const { settled } = commit;
    commit = {
      ...commit,
      async settled(err) {
        await settled(err);
        if (err === undefined) setImmediate(refill);
      },
    };
  }

  const tokenExpiry = Date.parse(issued.token.expirationTimestamp);
  const leaseExpiry = (nowSeconds + ttl) * 1000;
  // A token bound to the lease's objects dies with them; an unbound one lives until its own expiry.
  const expiration = issued.objects.length > 0 ? Math.min(tokenExpiry, leaseExpiry) : tokenExpiry;
  const caPem = await ca;
  const internal: LeaseInternal = { ...lease, objects: issued.objects };
  return {
    data: {
      service_account_name: issued.serviceAccountName,
      service_account_namespace: namespace,
      service_account_token: issued.token.token,
      cluster_endpoint: target.kubernetesHost,
      cluster_ca_certificate: caPem ? Buffer.from(caPem, "utf8").toString("base64") : "",
      expiration: new Date(expiration).toISOString(),
    },
    ...(issued.warnings.length > 0 && { warnings: issued.warnings }),
    secret: { ttl, maxTtl: ttl, renewable: false, internal: { ...internal }, commit },
  };
}

/**
 * Creates the objects of `intent`, and hands back the write that marks it
 * `issued` in the transaction that stores the lease (the core's), so that
 * both commit together; on failure it deletes what it made. Until that
 * transaction has settled, the reconciler leaves the intent alone
 * (`issuing`); should another replica's reconciler have taken this process
 * for dead and deleted the intent anyway, the credentials are deleted too
 * and the request fails, rather than answering with a token whose objects
 * are gone.
 */
async function issueRecorded(
  req: LogicalRequest,
  deps: CredsDeps,
  api: ClusterApi,
  spec: IssueSpec,
  intent: IntentRecord,
  prepared: Prepared | undefined,
): Promise<{ issued: Issued; commit: LeaseCommit }> {
  const { ref } = intent;
  const rollback = (objects: ObjectRef[]) => deleteRecorded(api, req.storage, { ref, objects, target: spec.target }, deps);
  issuing.add(ref);
  let issued: Issued;
  try {
    // Intent first, durable before any object is created: a crash from here on leaves a record of what may exist.
    // A prepared credential's intent was stored before its first object was made.
    if (!prepared) await putIntent(req.storage, intent);
    issued = await issue({ api, spec, objects: intent.objects, rollback, logger: deps.logger, prepared });
  } catch (err) {
    issuing.delete(ref);
    throw err;
  }
  const commit: LeaseCommit = {
    async write(tx) {
      if ((await getIntent(tx, ref))?.state !== "pending") {
        throw upstreamError(503, "the credentials were cleaned up while they were being issued; try again");
      }
      if (issued.objects.length === 0) await deleteIntent(tx, ref);
      else await putIntent(tx, { ...intent, objects: issued.objects, state: "issued", issuedAt: Math.floor(deps.now() / 1000) });
    },
    async settled(err) {
      try {
        if (err !== undefined) await rollback(intent.objects);
      } finally {
        issuing.delete(ref);
      }
    },
  };
  return { issued, commit };
}

/**
 * Deletes the objects of an issue that did not end in a lease, then its
 * intent. Never throws: what could not be deleted is left to the
 * reconciler, which deletes the objects of a `pending` intent of this
 * process as soon as its ref is no longer in `issuing`.
 */
export async function deleteRecorded(
  api: ClusterApi,
  storage: StorageView,
  recorded: { ref: string; objects: ObjectRef[]; target: string },
  deps: Pick<CredsDeps, "logger" | "abandoned">,
): Promise<void> {
  const { ref, objects, target } = recorded;
  try {
    await deleteObjects(api, objects, target, deps.logger);
    await deleteIntent(storage, ref);
  } catch (err) {
    deps.logger.error({ lease_ref: ref, cause: String(err) }, "could not delete the objects of a credential that was not issued; the reconciler will retry");
    deps.abandoned?.(ref);
  }
}

/** What names and labels one credential's objects: made per issue, or ahead of it (prepared.ts). */
interface LeaseObjects {
  ref: string;
  name: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  objects: ObjectRef[];
}

type SpecBase = Pick<IssueSpec, "roleName" | "role" | "namespace" | "clusterRoleBinding" | "target">;

async function leaseObjects(base: SpecBase, req: LogicalRequest, deps: CredsDeps, nowSeconds: number): Promise<LeaseObjects> {
  const { role, roleName: name } = base;
  const ref = randomBytes(12).toString("hex");
  const objectName = renderName(role.nameTemplate || DEFAULT_NAME_TEMPLATE, {
    role: name,
    random: randomSuffix(),
    unix_time: String(nowSeconds),
    display_name: req.auth?.displayName ?? "",
  });
  return {
    ref,
    name: objectName,
    labels: { ...role.extraLabels, ...MANAGED_BY, [MOUNT_LABEL]: await deps.mountId(), [LEASE_LABEL]: ref },
    annotations: { ...role.extraAnnotations, "latchkey.io/mount-path": req.mountPath, "latchkey.io/role": name },
    objects: planObjects({ ...base, name: objectName }),
  };
}

/** Objects made ahead can serve any caller only if their names do not name one. */
const preparable = (role: EngineRole) => (role.preparedCredentials ?? 0) > 0 && !/\{\{\s*display_name\s*\}\}/.test(role.nameTemplate);

/**
 * Makes one credential's objects ahead of the request that will take it
 * (prepared.ts): its intent first, `pending` and in `issuing` until it is
 * taken or deleted, then the objects. On failure, deletes what may exist.
 */
async function prepare(
  base: SpecBase,
  snapshot: string,
  api: ClusterApi,
  storage: StorageView,
  req: LogicalRequest,
  deps: CredsDeps,
): Promise<Prepared> {
  const madeAt = deps.now();
  const nowSeconds = Math.floor(madeAt / 1000);
  const objects = await leaseObjects(base, req, deps, nowSeconds);
  const { ref } = objects;
  issuing.add(ref);
  const recorded = { ref, objects: objects.objects, target: base.target };
  try {
    await putIntent(storage, {
      ...recorded,
      role: base.roleName,
      state: "pending",
      createdAt: nowSeconds,
      expiresAt: nowSeconds + Math.ceil(PREPARED_MAX_AGE_MS / 1000),
      writer: deps.boot,
      mountPath: req.mountPath,
    });
  } catch (err) {
    issuing.delete(ref);
    throw err;
  }
  try {
    const made = await createAhead(api, { ...base, ...objects, audiences: [], expirationSeconds: 0 }, objects.objects, deps.logger);
    return { ...objects, ...made, target: base.target, snapshot, api, madeAt };
  } catch (err) {
    await deleteRecorded(api, storage, recorded, deps);
    issuing.delete(ref);
    throw err;
  }
}

/**
 * The request's namespace, or the role's only one. It must be allowed by the
 * role: listed, or (only then read from the cluster) labelled as the role's
 * selector asks.
 */
async function namespaceFor(
  role: EngineRole,
  name: string,
  requested: unknown,
  api: ClusterApi,
  logger: Logger,
  signal: AbortSignal | undefined,
): Promise<string> {
  const allowed = role.allowedKubernetesNamespaces;
  const given = typeof requested === "string" ? requested.trim() : "";
  const only = allowed.length === 1 && allowed[0] !== "*" && role.allowedKubernetesNamespaceSelector === "";
  const namespace = given || (only ? allowed[0] : "");
  if (namespace === "") throw badRequest(`field "kubernetes_namespace" is required`);
  if (namespace.length > 63 || !DNS_LABEL.test(namespace)) throw badRequest(`field "kubernetes_namespace": ${quoted(namespace)} is not a namespace name`);
  if (allowed.includes("*") || allowed.includes(namespace)) return namespace;
  const refused = badRequest(`namespace ${quoted(namespace)} is not allowed by role ${quoted(name)}`);
  if (role.allowedKubernetesNamespaceSelector === "") throw refused;
  const selector = namespaceSelector(role.allowedKubernetesNamespaceSelector);
  const found = await api.getNamespace(namespace, { signal }).catch((err: unknown) => {
    throw kubeFailure(err, { verb: "get", kind: "Namespace", name: namespace, target: role.target }, logger);
  });
  // A missing namespace is refused like one the selector does not match: a caller the role
  // does not let into a namespace must not learn whether it exists.
  if (!found || !selectorMatches(selector, found.metadata.labels ?? {})) throw refused;
  return namespace;
}

/** The request's TTL, else the role's default, else the mount's; capped by the role's and the mount's maximum. */
function leaseTtl(role: EngineRole, requested: unknown, limits: CredsDeps["limits"]): number {
  const mountMax = limits.maxLeaseTtl;
  const max = Math.min(role.tokenMaxTtl || mountMax, mountMax);
  const fallback = role.tokenDefaultTtl || limits.defaultLeaseTtl;
  const ttl = typeof requested === "number" && requested > 0 ? requested : fallback;
  return Math.min(ttl, max);
}
