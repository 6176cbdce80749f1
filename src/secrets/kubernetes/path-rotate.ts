import { badRequest, notFound } from "../../core/errors.js";
import type { Logger, LogicalRequest, LogicalResponse, PathDef } from "../../core/types.js";
import { isValidName, quoted } from "../../core/input.js";
import { jwtClaims } from "./clusters.js";
import { kubeFailure, targetLabel } from "./failures.js";
import { DEFAULT_TARGET, getTarget, putTarget } from "./store.js";
import type { TargetClients } from "./types.js";

const MIN_TOKEN_SECONDS = 600;
const DEFAULT_TOKEN_SECONDS = 3600;
const SUBJECT = /^system:serviceaccount:([a-z0-9]([-a-z0-9]*[a-z0-9])?):([a-z0-9]([-a-z0-9.]*[a-z0-9])?)$/;

export interface RotateDeps {
  clients: TargetClients;
  logger: Logger;
}

/**
 * `config/rotate` and `targets/<name>/rotate`: replaces a target's bearer
 * token, when it is a service-account token, with a fresh one for the same
 * account from TokenRequest, asked for with the old one. Roles keep using
 * the target by name, so none of them changes.
 */
export function rotatePaths(deps: RotateDeps): PathDef[] {
  const fields = { ttl: { type: "duration" as const, description: "Lifetime of the new token; default the old one's (at least 10 minutes)" } };
  return [
    { pattern: "config/rotate", fields, ops: { update: (req) => rotate(req, DEFAULT_TARGET, deps) }, help: "Rotate the config's service_account_jwt." },
    {
      pattern: "targets/:name/rotate",
      fields,
      ops: {
        update: (req) => {
          if (!isValidName(req.params.name)) throw badRequest(`invalid target name ${quoted(req.params.name)}`);
          return rotate(req, req.params.name, deps);
        },
      },
      help: "Rotate a target's service_account_jwt through TokenRequest.",
    },
  ];
}

async function rotate(req: LogicalRequest, name: string, deps: RotateDeps): Promise<LogicalResponse> {
  const target = await getTarget(req.storage, name);
  if (!target) throw notFound(`${targetLabel(name)} does not exist`);
  if (target.credential !== "service_account_jwt") throw badRequest(`only a target with a "service_account_jwt" can be rotated`);
  const claims = jwtClaims(target.serviceAccountJwt);
  const subject = typeof claims?.sub === "string" ? SUBJECT.exec(claims.sub) : null;
  if (!subject) throw badRequest(`the "service_account_jwt" of ${targetLabel(name)} is not a service-account token`);
  const [namespace, account] = [subject[1], subject[3]];
  const lifetime = typeof claims?.exp === "number" && typeof claims.iat === "number" ? claims.exp - claims.iat : DEFAULT_TOKEN_SECONDS;
  const requested = typeof req.data.ttl === "number" && req.data.ttl > 0 ? req.data.ttl : lifetime;
  const api = await deps.clients.clientFor(name, target);
  const issued = await api
    .createTokenRequest(namespace, account, { expirationSeconds: Math.max(MIN_TOKEN_SECONDS, requested) })
    .catch((err: unknown) => {
      throw kubeFailure(err, { verb: "create", kind: "ServiceAccount", subresource: "token", namespace, name: account, target: name }, deps.logger);
    });
  // The old token is not revoked: TokenRequest tokens cannot be, and it may be a legacy one others use too.
  await putTarget(req.storage, name, { ...target, serviceAccountJwt: issued.token });
  return {
    data: { service_account_name: account, service_account_namespace: namespace, expiration: issued.expirationTimestamp },
    warnings: [`the new token expires at ${issued.expirationTimestamp}; rotate again before then`],
  };
}
