import { LatchkeyError, badRequest, upstreamError } from "../../core/errors.js";
import type { Logger } from "../../core/types.js";
import { KubeApiError, KubeUnavailableError, redact } from "../../kube/errors.js";
import { qualifiedResource } from "./objects.js";
import type { ObjectKind } from "./types.js";

/** One Kubernetes call the engine makes, as the API server's RBAC sees it. */
export interface KubeCall {
  verb: "create" | "delete" | "get";
  kind: ObjectKind;
  /** `token` for TokenRequest (`serviceaccounts/token`). */
  subresource?: "token";
  /** Absent for cluster-scoped kinds. */
  namespace?: string;
  name: string;
  /** The target's name for messages: "" is the mount's config. */
  target: string;
}

export const targetLabel = (name: string) => (name === "" ? "config" : `target "${name}"`);

function what(call: KubeCall): string {
  const resource = `${qualifiedResource(call.kind)}${call.subresource ? `/${call.subresource}` : ""}`;
  return `${call.verb} ${resource} ${call.namespace !== undefined ? `in namespace "${call.namespace}"` : "(cluster-wide)"}`;
}

/**
 * What a failed call means to the client. A 404 of the namespace or of a
 * fixed-mode service account is the role's or the request's problem: 400.
 * Everything else is the operator's (the target's permissions, a cluster that
 * is down): logged at error level and answered 502, naming the verb, resource
 * and namespace the target may not use, or 503/504 when the API server cannot
 * be reached. Never a token in the message.
 */
export function kubeFailure(err: unknown, call: KubeCall, logger: Logger): LatchkeyError {
  if (err instanceof LatchkeyError) return err;
  const target = targetLabel(call.target);
  const operator = (status: 502 | 503 | 504, message: string) => {
    logger.error({ target: call.target, call: what(call), name: call.name, cause: cause(err) }, message);
    return upstreamError(status, message, err);
  };
  if (err instanceof KubeApiError) {
    if (err.status === 404 && call.verb === "create") {
      if (call.subresource === "token") {
        return badRequest(`service account "${call.name}" does not exist in namespace "${call.namespace}"`);
      }
      if (call.namespace !== undefined) return badRequest(`namespace "${call.namespace}" does not exist`);
    }
    if (err.status === 403) return operator(502, `kubernetes ${target} is not allowed to ${what(call)}${escalationHint(err, call)}`);
    if (err.status === 401) {
      return operator(502, `kubernetes ${target}: the API server rejected the target's credentials (401 Unauthorized)`);
    }
    if (err.status === 429) return operator(503, `kubernetes ${target}: the API server kept throttling (429) after retries`);
    return operator(502, `kubernetes ${target}: ${what(call)} failed: ${err.status} ${err.reason}: ${redact(err.message).slice(0, 200)}`);
  }
  if (err instanceof KubeUnavailableError) {
    if (err.kind === "timeout") return operator(504, `kubernetes ${target}: the API server did not answer in time`);
    return operator(503, `kubernetes ${target}: the API server is unreachable`);
  }
  return operator(502, `kubernetes ${target}: ${what(call)} failed: ${cause(err)}`);
}

/** RBAC refuses to create a binding or role that grants more than its creator holds, unless it has `bind` / `escalate`. */
function escalationHint(err: KubeApiError, call: KubeCall): string {
  if (!/attempting to grant RBAC permissions not currently held/.test(err.message)) return "";
  if (call.kind === "RoleBinding" || call.kind === "ClusterRoleBinding") {
    return ": it needs the bind verb on the role, or every permission the role grants";
  }
  return ": it needs the escalate verb, or every permission in the rules";
}

function cause(err: unknown): string {
  const text = err instanceof Error ? `${err.message}${err.cause instanceof Error ? `: ${err.cause.message}` : ""}` : String(err);
  return redact(text).slice(0, 300);
}
