import { internalError, upstreamError } from "../../core/errors.js";
import type { LeaseEntry, Logger } from "../../core/types.js";
import type { StorageView } from "../../storage/types.js";
import { isRecord } from "../../core/input.js";
import { targetLabel } from "./failures.js";
import { KINDS } from "./objects.js";
import { deleteObjects } from "./provision.js";
import { deleteIntent, getIntent, getTarget, listIntents } from "./store.js";
import type { LeaseInternal, ObjectKind, ObjectRef, TargetClients } from "./types.js";

/** A request still issuing after this long has died with its server; its objects are orphans. */
export const PENDING_GRACE_SECONDS = 120;
/** Expired leases are the lease manager's to revoke first; the reconciler only catches what it missed. */
export const EXPIRED_GRACE_SECONDS = 60;

export interface CleanupDeps {
  clients: TargetClients;
  logger: Logger;
}

/**
 * Deletes everything a lease created; an object already gone counts as
 * deleted. Throws on any other failure, so the lease manager retries.
 */
export async function revokeLease(lease: LeaseEntry, storage: StorageView, deps: CleanupDeps): Promise<void> {
  const internal = leaseInternalOf(lease.internal);
  await deleteAll(storage, internal.target, internal.objects, deps);
  await deleteIntent(storage, internal.ref);
}

async function deleteAll(storage: StorageView, targetName: string, objects: ObjectRef[], deps: CleanupDeps): Promise<void> {
  if (objects.length === 0) return;
  const target = await getTarget(storage, targetName);
  if (!target) throw upstreamError(502, `kubernetes ${targetLabel(targetName)} no longer exists: cannot delete the lease's objects`);
  await deleteObjects(await deps.clients.clientFor(targetName, target), objects, targetName, deps.logger);
}

/**
 * Deletes the objects of intents whose request failed without deleting them
 * (`abandoned`), whose request died mid-issue (still
 * `pending` after PENDING_GRACE_SECONDS) or whose lease has ended without
 * being revoked, then forgets them. Failures are logged and retried on the
 * next run. Returns how many intents were cleaned up.
 */
export async function reconcileIntents(storage: StorageView, deps: CleanupDeps, nowSeconds: number): Promise<number> {
  let cleaned = 0;
  for (const ref of await listIntents(storage)) {
    const intent = await getIntent(storage, ref);
    if (!intent) continue;
    const orphaned =
      intent.state === "abandoned" ||
      (intent.state === "pending"
        ? nowSeconds - intent.createdAt > PENDING_GRACE_SECONDS
        : nowSeconds > intent.expiresAt + EXPIRED_GRACE_SECONDS);
    if (!orphaned) continue;
    try {
      await deleteAll(storage, intent.target, intent.objects, deps);
      await deleteIntent(storage, ref);
      cleaned++;
      deps.logger.info({ lease_ref: ref, role: intent.role, objects: intent.objects.length }, "deleted orphaned kubernetes objects");
    } catch (err) {
      deps.logger.warn({ lease_ref: ref, role: intent.role, cause: err instanceof Error ? err.message : String(err) }, "could not delete orphaned kubernetes objects; will retry");
    }
  }
  return cleaned;
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
