import { badRequest, notFound } from "../../core/errors.js";
import type { FieldSchema, LogicalRequest, PathDef } from "../../core/types.js";
import { checkCertificates, checkClientKeyPair, isValidName, pemInput, quoted } from "../../core/input.js";
import { listPaths } from "./list-paths.js";
import { gatewayToken, type GatewayFiles, type ReadFile } from "./clusters.js";
import { DEFAULT_TARGET, deleteTarget, getTarget, listIntents, getIntent, listTargets, putTarget, rolesUsingTarget } from "./store.js";
import type { Target, TargetCredential } from "./types.js";

export const TARGET_FIELDS: Record<string, FieldSchema> = {
  kubernetes_host: {
    type: "string",
    description: "URL of the API server; with use_gateway_service_account, defaults to https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT",
  },
  kubernetes_ca_cert: { type: "string", description: "PEM (or base64 of PEM) CA bundle of the API server" },
  service_account_jwt: { type: "string", description: "Bearer token latchkey calls the API server with; never returned" },
  use_gateway_service_account: {
    type: "bool",
    description: "Call the API server as the server's own service account (its token file is read for every call)",
  },
  client_cert: { type: "string", description: "PEM client certificate latchkey calls the API server with" },
  client_key: { type: "string", description: "PEM key of client_cert; never returned" },
};

export interface TargetPathOptions {
  files: GatewayFiles;
  /** The server's environment, for the in-cluster default of `kubernetes_host`. */
  env: Record<string, string | undefined>;
  read?: ReadFile;
}

/**
 * `config` (the default target, Vault's path) and `targets/<name>` (further
 * clusters or identities, Akeyless's targets); LIST `targets` names them.
 * A write replaces the whole target; credentials are never read back.
 */
export function targetPaths(opts: TargetPathOptions): PathDef[] {
  const ops = (nameOf: (req: LogicalRequest) => string): PathDef["ops"] => ({
    read: async (req) => {
      const target = await getTarget(req.storage, nameOf(req));
      if (!target) throw notFound("");
      return { data: renderTarget(target) };
    },
    update: async (req) => {
      await putTarget(req.storage, nameOf(req), await targetFromInput(req.data, opts));
      return undefined;
    },
    delete: async (req) => {
      const name = nameOf(req);
      await refuseIfInUse(req, name);
      await deleteTarget(req.storage, name);
      return undefined;
    },
  });
  return [
    {
      pattern: "config",
      fields: TARGET_FIELDS,
      exists: async (req) => (await getTarget(req.storage, DEFAULT_TARGET)) !== undefined,
      ops: ops(() => DEFAULT_TARGET),
      help: "The default target: the cluster and identity roles without a target use.",
    },
    ...listPaths("targets", "List the named targets.", listTargets),
    {
      pattern: "targets/:name",
      fields: TARGET_FIELDS,
      exists: async (req) => (await getTarget(req.storage, targetName(req))) !== undefined,
      ops: ops(targetName),
      help: "A named target: a cluster connection with its own credential, for roles that name it.",
    },
  ];
}

function targetName(req: LogicalRequest): string {
  const name = req.params.name;
  if (!isValidName(name)) throw badRequest(`invalid target name ${quoted(name)}`);
  return name;
}

/** A target that roles or live leases still use stays: its leases could no longer be revoked. */
async function refuseIfInUse(req: LogicalRequest, name: string): Promise<void> {
  const label = name === DEFAULT_TARGET ? "config" : `target "${name}"`;
  const roles = await rolesUsingTarget(req.storage, name);
  if (roles.length > 0) throw badRequest(`${label} is used by role ${roles.map((r) => `"${r}"`).join(", ")}; delete or change that first`);
  for (const ref of await listIntents(req.storage)) {
    if ((await getIntent(req.storage, ref))?.target === name) {
      throw badRequest(`${label} still has leases whose objects it must delete; revoke them first`);
    }
  }
}

async function targetFromInput(d: Record<string, unknown>, opts: TargetPathOptions): Promise<Target> {
  const str = (key: string) => (typeof d[key] === "string" ? d[key].trim() : "");
  const jwt = str("service_account_jwt");
  const clientCert = pemInput(d.client_cert, "client_cert");
  const clientKey = pemInput(d.client_key, "client_key");
  const given: TargetCredential[] = [
    ...(jwt !== "" ? (["service_account_jwt"] as const) : []),
    ...(d.use_gateway_service_account === true ? (["gateway_service_account"] as const) : []),
    ...(clientCert !== "" || clientKey !== "" ? (["client_certificate"] as const) : []),
  ];
  if (given.length > 1) {
    throw badRequest(`give one credential: "service_account_jwt", "use_gateway_service_account" or "client_cert" with "client_key"`);
  }
  // As in Vault's engine, a target without a credential uses the server's own service account.
  const credential = given[0] ?? "gateway_service_account";
  const target: Target = {
    kubernetesHost: str("kubernetes_host") || (credential === "gateway_service_account" ? inClusterHost(opts.env) : ""),
    kubernetesCaCert: pemInput(d.kubernetes_ca_cert, "kubernetes_ca_cert"),
    credential,
    serviceAccountJwt: jwt,
    clientCert,
    clientKey,
  };
  if (target.kubernetesHost === "") throw badRequest(`field "kubernetes_host" is required`);
  checkUrl(target.kubernetesHost);
  if (target.kubernetesCaCert !== "") checkCertificates(target.kubernetesCaCert, "kubernetes_ca_cert");
  if (/\s/.test(jwt)) throw badRequest(`field "service_account_jwt" must be a bearer token (no whitespace)`);
  if (credential === "client_certificate") {
    if (clientCert === "" || clientKey === "") throw badRequest(`"client_cert" and "client_key" must be given together`);
    checkClientKeyPair(clientCert, clientKey);
  }
  if (credential === "gateway_service_account") {
    try {
      await gatewayToken(opts.files, opts.read);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      if (given.length === 0) {
        throw badRequest(`no credential given: set "service_account_jwt", "client_cert" and "client_key", or "use_gateway_service_account" (${why})`);
      }
      throw badRequest(`field "use_gateway_service_account": ${why}`);
    }
  }
  return target;
}

function checkUrl(value: string): void {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (url?.protocol !== "https:" && url?.protocol !== "http:") throw badRequest(`field "kubernetes_host" must be an http(s) URL`);
}

/** Kubernetes sets these in every pod. */
function inClusterHost(env: Record<string, string | undefined>): string {
  const host = env.KUBERNETES_SERVICE_HOST;
  if (!host) return "";
  return `https://${host.includes(":") ? `[${host}]` : host}:${env.KUBERNETES_SERVICE_PORT || "443"}`;
}

/** The target as read: credentials are replaced by `*_set` flags. */
export function renderTarget(t: Target): Record<string, unknown> {
  return {
    kubernetes_host: t.kubernetesHost,
    kubernetes_ca_cert: t.kubernetesCaCert,
    service_account_jwt_set: t.serviceAccountJwt !== "",
    use_gateway_service_account: t.credential === "gateway_service_account",
    client_cert: t.clientCert,
    client_key_set: t.clientKey !== "",
  };
}
