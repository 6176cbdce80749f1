import { internalError } from "../../core/errors.js";
import type { Logger } from "../../core/types.js";
import { KubeApiError } from "../../kube/errors.js";
import type { IssuedToken, KubeObject } from "../../kube/types.js";
import { kubeFailure, type KubeCall } from "./failures.js";
import { collectionPath, objectHead, objectPath } from "./objects.js";
import type { ClusterApi, EngineRole, ObjectRef } from "./types.js";

/** One lease's worth of objects to create. */
export interface IssueSpec {
  roleName: string;
  role: EngineRole;
  namespace: string;
  /** The generated name every object of the lease shares. */
  name: string;
  clusterRoleBinding: boolean;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  audiences: string[];
  expirationSeconds: number;
  /** The target's name, for messages. */
  target: string;
}

export interface Issued {
  serviceAccountName: string;
  token: IssuedToken;
  /** What the lease must delete; fewer than planned when the bound Secret could not be made. */
  objects: ObjectRef[];
  warnings: string[];
}

/**
 * The objects a lease will create, known before any is: they are recorded as
 * intent first. Fixed mode: the Secret its token is bound to. Dynamic mode:
 * the ServiceAccount, the generated Role or ClusterRole, and the binding.
 */
export function planObjects(spec: Pick<IssueSpec, "role" | "name" | "namespace" | "clusterRoleBinding">): ObjectRef[] {
  const { role, name, namespace } = spec;
  if (role.mode === "fixed") return [{ kind: "Secret", name, namespace }];
  const generated: ObjectRef[] =
    role.mode === "generated"
      ? [role.kubernetesRoleType === "Role" ? { kind: "Role", name, namespace } : { kind: "ClusterRole", name }]
      : [];
  const binding: ObjectRef = spec.clusterRoleBinding ? { kind: "ClusterRoleBinding", name } : { kind: "RoleBinding", name, namespace };
  return [{ kind: "ServiceAccount", name, namespace }, ...generated, binding];
}

/** Deletes `objects` concurrently; one already gone counts as deleted. Throws the first failure. */
export async function deleteObjects(api: ClusterApi, objects: ObjectRef[], target: string, logger: Logger): Promise<void> {
  const results = await Promise.allSettled(objects.map((ref) => api.delete(objectPath(ref))));
  const failed = results.findIndex((r) => r.status === "rejected");
  if (failed < 0) return;
  const reason = (results[failed] as PromiseRejectedResult).reason;
  throw kubeFailure(reason, { verb: "delete", ...objects[failed], target }, logger);
}

/**
 * Creates a lease's objects and its token. On failure, `rollback` is given
 * what may exist (everything planned, in dynamic mode) before the error is
 * thrown, so nothing half-made is left behind the request.
 */
export async function issue(run: IssueRun): Promise<Issued> {
  return run.spec.role.mode === "fixed" ? issueFixed(run) : issueDynamic(run);
}

/** One issue in progress: where, what, what was planned, and how to undo it. */
export interface IssueRun {
  api: ClusterApi;
  spec: IssueSpec;
  /** As planned by planObjects and recorded as intent. */
  objects: ObjectRef[];
  rollback: (objects: ObjectRef[]) => Promise<void>;
  logger: Logger;
  /** Made ahead (prepared.ts): every object exists already; only the TokenRequest is left. */
  prepared?: { secretUid?: string };
}

const call = (spec: IssueSpec, ref: ObjectRef, extra: Partial<KubeCall> = {}): KubeCall => ({
  verb: "create",
  ...ref,
  target: spec.target,
  ...extra,
});

async function create<T extends KubeObject>(api: ClusterApi, spec: IssueSpec, ref: ObjectRef, body: object): Promise<T> {
  return api.create<T>(collectionPath(ref), { ...objectHead(ref, spec.labels, spec.annotations), ...body });
}

/**
 * Every object of a lease, made ahead of the request that will take it
 * (prepared.ts): none depends on what the request gives, only the
 * TokenRequest does. Fixed mode: the bound Secret; dynamic mode: the
 * ServiceAccount, the generated role and the binding. Throws the first
 * failure; the caller deletes what may exist.
 */
export async function createAhead(api: ClusterApi, spec: IssueSpec, objects: ObjectRef[], logger: Logger): Promise<{ secretUid?: string }> {
  if (spec.role.mode === "fixed") return { secretUid: await createSecret(api, spec, objects[0]) };
  await settledAll(createDynamicObjects(api, spec, objects, logger).all);
  return {};
}

async function createSecret(api: ClusterApi, spec: IssueSpec, ref: ObjectRef): Promise<string> {
  const secret = await create(api, spec, ref, { type: "Opaque" });
  if (!secret.metadata.uid) throw internalError("the API server returned a Secret without a uid");
  return secret.metadata.uid;
}

/** Waits for all of `calls`, then throws the first failure, if any. */
async function settledAll(calls: Promise<unknown>[]): Promise<void> {
  const failure = (await Promise.allSettled(calls)).find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failure) throw failure.reason;
}

/**
 * A token for an existing service account, bound through `boundObjectRef` to
 * a Secret made for this lease: deleting the Secret on revoke makes
 * TokenReview refuse the token (once the API server's ~10 s token cache has
 * passed). Where the target may not create Secrets, the token is issued
 * unbound and the response says it lives until it expires.
 */
async function issueFixed({ api, spec, objects, rollback, logger, prepared }: IssueRun): Promise<Issued> {
  const [secretRef] = objects;
  const warnings: string[] = [];
  let bound: { name: string; uid: string } | undefined;
  try {
    bound = { name: secretRef.name, uid: prepared?.secretUid ?? (await createSecret(api, spec, secretRef)) };
  } catch (err) {
    if (!(err instanceof KubeApiError && err.status === 403)) {
      await rollback(objects);
      throw kubeFailure(err, call(spec, secretRef), logger);
    }
    logger.warn({ target: spec.target, namespace: spec.namespace }, "target may not create secrets: issuing an unbound token");
    warnings.push(
      `the target may not create secrets in namespace "${spec.namespace}", so this token is not bound to the lease: ` +
        `revoking the lease does not invalidate it before it expires`,
    );
  }
  const created = bound ? objects : [];
  const sa = spec.role.serviceAccountName;
  try {
    const token = await api.createTokenRequest(spec.namespace, sa, {
      audiences: spec.audiences,
      expirationSeconds: spec.expirationSeconds,
      boundSecret: bound,
    });
    return { serviceAccountName: sa, token, objects: created, warnings };
  } catch (err) {
    await rollback(created);
    throw kubeFailure(err, { verb: "create", kind: "ServiceAccount", subresource: "token", namespace: spec.namespace, name: sa, target: spec.target }, logger);
  }
}

/**
 * Starts creating a temporary service account with its role and binding. The
 * API server accepts a binding whose subject or role does not exist yet, so
 * the three are created at once (Vault makes them one after another). A
 * target with `bind` but without every permission of a generated role is
 * refused the early binding; it is retried once the role exists. Failures
 * come out named (kubeFailure).
 */
function createDynamicObjects(api: ClusterApi, spec: IssueSpec, objects: ObjectRef[], logger: Logger) {
  const saRef = objects[0];
  const bindingRef = objects[objects.length - 1];
  const roleRef = objects.length === 3 ? objects[1] : undefined;
  const saCreated = named(spec, saRef, logger, create(api, spec, saRef, {}));
  const roleCreated = roleRef ? create(api, spec, roleRef, { rules: spec.role.rules }) : Promise.resolve(undefined);
  const bindingBody = {
    roleRef: {
      apiGroup: "rbac.authorization.k8s.io",
      kind: spec.role.kubernetesRoleType,
      name: roleRef ? roleRef.name : spec.role.kubernetesRoleName,
    },
    subjects: [{ kind: "ServiceAccount", name: saRef.name, namespace: spec.namespace }],
  };
  const bindingCreated = create(api, spec, bindingRef, bindingBody).catch(async (err: unknown) => {
    if (!roleRef || !(err instanceof KubeApiError && err.status === 403)) throw err;
    await roleCreated.catch(() => undefined);
    return create(api, spec, bindingRef, bindingBody);
  });
  return {
    saCreated,
    all: [saCreated, roleRef ? named(spec, roleRef, logger, roleCreated) : roleCreated, named(spec, bindingRef, logger, bindingCreated)],
  };
}

const named = <T>(spec: IssueSpec, ref: ObjectRef, logger: Logger, p: Promise<T>, extra?: Partial<KubeCall>) =>
  p.catch((err: unknown) => {
    throw kubeFailure(err, call(spec, ref, extra), logger);
  });

/**
 * A temporary service account with its role and binding, and its token: the
 * TokenRequest follows the ServiceAccount alone. Prepared, the objects exist
 * and only the TokenRequest is made.
 */
async function issueDynamic({ api, spec, objects, rollback, logger, prepared }: IssueRun): Promise<Issued> {
  const saRef = objects[0];
  const started = prepared ? { saCreated: Promise.resolve(), all: [] } : createDynamicObjects(api, spec, objects, logger);
  const tokenIssued = started.saCreated.then(() =>
    named(
      spec,
      saRef,
      logger,
      api.createTokenRequest(spec.namespace, saRef.name, { audiences: spec.audiences, expirationSeconds: spec.expirationSeconds }),
      { subresource: "token" },
    ),
  );
  try {
    await settledAll([...started.all, tokenIssued]);
  } catch (err) {
    await rollback(objects);
    throw err;
  }
  return { serviceAccountName: saRef.name, token: await tokenIssued, objects, warnings: [] };
}
