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
  /** Made ahead (prepared.ts): the first object exists already. */
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
 * The object of a lease that depends on nothing the request gives, so that it
 * may be made ahead (prepared.ts): the bound Secret in fixed mode, the
 * ServiceAccount in dynamic mode. Throws the API server's error as it came.
 */
export async function createFirst(api: ClusterApi, spec: IssueSpec, objects: ObjectRef[]): Promise<{ secretUid?: string }> {
  const [first] = objects;
  if (first.kind !== "Secret") {
    await create(api, spec, first, {});
    return {};
  }
  const secret = await create(api, spec, first, { type: "Opaque" });
  if (!secret.metadata.uid) throw internalError("the API server returned a Secret without a uid");
  return { secretUid: secret.metadata.uid };
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
    bound = { name: secretRef.name, uid: prepared?.secretUid ?? (await createFirst(api, spec, objects)).secretUid ?? "" };
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
 * A temporary service account with its role and binding. The API server
 * accepts a binding whose subject or role does not exist yet, so the
 * ServiceAccount, the generated role and the binding are created at once
 * and the TokenRequest follows the ServiceAccount alone (Vault makes them one
 * after another). A target with `bind` but without every permission of a
 * generated role is refused the early binding; it is retried once the role exists.
 */
async function issueDynamic({ api, spec, objects, rollback, logger, prepared }: IssueRun): Promise<Issued> {
  const saRef = objects[0];
  const bindingRef = objects[objects.length - 1];
  const roleRef = objects.length === 3 ? objects[1] : undefined;
  const mapped = <T>(ref: ObjectRef, p: Promise<T>, extra?: Partial<KubeCall>) =>
    p.catch((err: unknown) => {
      throw kubeFailure(err, call(spec, ref, extra), logger);
    });

  const saCreated = prepared ? Promise.resolve() : mapped(saRef, createFirst(api, spec, objects));
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
  const tokenIssued = saCreated.then(() =>
    mapped(
      saRef,
      api.createTokenRequest(spec.namespace, saRef.name, { audiences: spec.audiences, expirationSeconds: spec.expirationSeconds }),
      { subresource: "token" },
    ),
  );
  const results = await Promise.allSettled([
    saCreated,
    roleRef ? mapped(roleRef, roleCreated) : roleCreated,
    mapped(bindingRef, bindingCreated),
    tokenIssued,
  ]);
  const failure = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failure) {
    await rollback(objects);
    throw failure.reason;
  }
  return { serviceAccountName: saRef.name, token: await tokenIssued, objects, warnings: [] };
}
