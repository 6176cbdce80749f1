import { internalError, upstreamError } from "../../core/errors.js";
import type { LeaseEntry, Logger, MountLeases } from "../../core/types.js";
import type { StorageView } from "../../storage/types.js";
import { isRecord } from "../../core/input.js";
import { targetLabel } from "./failures.js";
import { KINDS } from "./objects.js";
import { deleteObjects } from "./provision.js";
import { issuing, type Liveness } from "./liveness.js";
import { deleteIntent, getIntent, getTarget, listIntents, putIntent } from "./store.js";
import type { IntentRecord, LeaseInternal, ObjectKind, ObjectRef, TargetClients } from "./types.js";

/** A request still issuing after this long has died with its server; its objects are orphans. */
export const PENDING_GRACE_SECONDS = 120;
/** Expired leases are the lease manager's to revoke first; the reconciler only catches what it missed. */
export const EXPIRED_GRACE_SECONDS = 60;
/** A live server stores the lease of an answer at once; after this long without one, the core failed to. */
export const ISSUED_GRACE_SECONDS = 60;

export interface CleanupDeps {
  clients: TargetClients;
  logger: Logger;
  /** This process's boot id, recorded in the intents it writes. */
  boot: string;
}

export interface ReconcileDeps extends CleanupDeps {
  liveness: Liveness;
  /** The mount's leases; without them an answered intent is kept until its lease would have ended. */
  leases?: MountLeases;
  mountPath: string;
}

export interface ReconcileResult {
  /** Intents whose objects were deleted. */
  cleaned: number;
  /** Intents of another replica not yet known to be alive or dead: worth another run soon. */
  watched: number;
}

/**
 * Deletes everything a lease created; an object already gone counts as
 * deleted. Throws on any other failure, so the lease manager retries. The
 * intent is marked `revoking` first: should this process die midway, the
 * next one finishes the deletion without waiting for the lease's next attempt.
 */
export async function revokeLease(lease: LeaseEntry, storage: StorageView, deps: CleanupDeps): Promise<void> {
  const internal = leaseInternalOf(lease.internal);
  await updateIntent(storage, internal.ref, (intent) =>
    intent.state === "revoking" && intent.writer === deps.boot ? undefined : { ...intent, state: "revoking", writer: deps.boot },
  );
  await deleteAll(storage, internal.target, internal.objects, deps);
  await deleteIntent(storage, internal.ref);
}

/** Rewrites an intent in one transaction, only if it still exists; `change` returns undefined to leave it. */
async function updateIntent(storage: StorageView, ref: string, change: (intent: IntentRecord) => IntentRecord | undefined): Promise<void> {
  await storage.transaction(async (tx) => {
    const intent = await getIntent(tx, ref);
    const next = intent && change(intent);
    if (next) await putIntent(tx, next);
  });
}

async function deleteAll(storage: StorageView, targetName: string, objects: ObjectRef[], deps: CleanupDeps): Promise<void> {
  if (objects.length === 0) return;
  const target = await getTarget(storage, targetName);
  if (!target) throw upstreamError(502, `kubernetes ${targetLabel(targetName)} no longer exists: cannot delete the lease's objects`);
  await deleteObjects(await deps.clients.clientFor(targetName, target), objects, targetName, deps.logger);
}

/** `leased`: kept, and its lease was found stored (so it need not be looked for again). */
type Verdict = "orphan" | "keep" | "watch" | "leased";

/**
 * Deletes the objects of intents that no live request or lease accounts for,
 * then forgets them:
 * - `pending` of this process with no request running, of a dead process, or
 *   older than PENDING_GRACE_SECONDS;
 * - `issued` whose lease is not stored, once its writer is dead or
 *   ISSUED_GRACE_SECONDS have passed, and any whose lease has ended;
 * - `revoking` of a dead process, or past its lease's end.
 * Failures are logged and retried on the next run.
 */
export async function reconcileIntents(storage: StorageView, deps: ReconcileDeps, nowSeconds: number): Promise<ReconcileResult> {
  const result: ReconcileResult = { cleaned: 0, watched: 0 };
  const hasLease = leaseFinder(deps);
  for (const ref of await listIntents(storage)) {
    // Checked before the intent is read: a request that ends meanwhile has already written its outcome.
    if (issuing.has(ref)) continue;
    const intent = await getIntent(storage, ref);
    if (!intent) continue;
    const verdict = await judge(intent, nowSeconds, deps, hasLease);
    if (verdict === "watch") result.watched++;
    if (verdict === "leased") {
      await updateIntent(storage, ref, (current) => (current.state === "issued" ? { ...current, leaseSeen: true } : undefined));
    }
    if (verdict !== "orphan") continue;
    try {
      await deleteAll(storage, intent.target, intent.objects, deps);
      await deleteIntent(storage, ref);
      result.cleaned++;
      deps.logger.info({ lease_ref: ref, role: intent.role, state: intent.state, objects: intent.objects.length }, "deleted orphaned kubernetes objects");
    } catch (err) {
      deps.logger.warn({ lease_ref: ref, role: intent.role, cause: err instanceof Error ? err.message : String(err) }, "could not delete orphaned kubernetes objects; will retry");
    }
  }
  await deps.liveness.sweep();
  return result;
}

async function judge(intent: IntentRecord, now: number, deps: ReconcileDeps, hasLease: LeaseFinder): Promise<Verdict> {
  const own = intent.writer === deps.boot;
  const dead = intent.writer !== undefined && !own && (await deps.liveness.dead(intent.writer));
  // Another replica that may be alive: decided on a later run.
  const waiting: Verdict = intent.writer !== undefined && !own ? "watch" : "keep";
  switch (intent.state) {
    case "pending":
      // Not in `issuing` (checked by the caller): a request of this process that has ended.
      if (own || dead || now - intent.createdAt > PENDING_GRACE_SECONDS) return "orphan";
      return waiting;
    case "issued": {
      if (now > intent.expiresAt + EXPIRED_GRACE_SECONDS) return "orphan";
      if (intent.leaseSeen === true) return "keep";
      const settled = dead || now - (intent.issuedAt ?? intent.createdAt) > ISSUED_GRACE_SECONDS;
      if (!settled) return waiting;
      // After a remount the lease may sit under the old or the new id: it is left to end.
      if (!deps.leases || (intent.mountPath ?? deps.mountPath) !== deps.mountPath) return "keep";
      return (await hasLease(intent)) ? "leased" : "orphan";
    }
    case "revoking":
      if (dead || now > intent.expiresAt + EXPIRED_GRACE_SECONDS) return "orphan";
      return waiting;
  }
}

type LeaseFinder = (intent: IntentRecord) => Promise<boolean>;

/** Whether an intent's lease is stored: the refs in the leases of each role, read once per run. */
function leaseFinder(deps: ReconcileDeps): LeaseFinder {
  const byRole = new Map<string, Promise<Set<string>>>();
  const refsOf = async (leases: MountLeases, role: string) => {
    const refs = new Set<string>();
    for (const id of await leases.list(`creds/${role}`)) {
      const internal = (await leases.lookup(id))?.internal;
      if (isRecord(internal) && typeof internal.ref === "string") refs.add(internal.ref);
    }
    return refs;
  };
  return async (intent) => {
    if (!deps.leases) return true;
    let refs = byRole.get(intent.role);
    if (!refs) byRole.set(intent.role, (refs = refsOf(deps.leases, intent.role)));
    return (await refs).has(intent.ref);
  };
}

/** Lease data comes back from storage: check its shape before deleting anything by it. */
function leaseInternalOf(value: unknown): LeaseInternal {
  if (!isRecord(value)) throw internalError("kubernetes lease without internal data");
  const { ref, role, target, objects } = value;
  if (typeof ref !== "string" || typeof role !== "string" || typeof target !== "string" || !Array.isArray(objects)) {
    throw internalError("kubernetes lease with malformed internal data");
  }
  return { ref, role, target, objects: objects.map(objectRefOf) };
}

function objectRefOf(value: unknown): ObjectRef {
  if (!isRecord(value) || typeof value.name !== "string" || !isObjectKind(value.kind)) {
    throw internalError("kubernetes lease names a malformed object");
  }
  const kind = value.kind;
  if (KINDS[kind].namespaced && typeof value.namespace !== "string") throw internalError("kubernetes lease object without namespace");
  return { kind, name: value.name, ...(typeof value.namespace === "string" && { namespace: value.namespace }) };
}

const isObjectKind = (kind: unknown): kind is ObjectKind => typeof kind === "string" && Object.hasOwn(KINDS, kind);
