import { badRequest, permissionDenied } from "../../core/errors.js";
import { cidrAllows } from "../../core/net.js";
import type { AuthResponse, FieldSchema, LogicalRequest, LogicalResponse, Logger, PathDef } from "../../core/types.js";
import { ACCESS_ID_PATTERN } from "./access-keys.js";
import { signVerifiedLogin } from "./assertion-signer.js";
import { verifyAssertion } from "./assertion-verifier.js";
import { checkTokenTimes, parseServiceAccountJwt } from "./claims.js";
import type { ClusterRegistry } from "./clusters.js";
import { matchesAny } from "../../core/glob.js";
import { isValidName, quoted } from "../../core/input.js";
import { parseNamespaceSelector, selectorMatches } from "./namespace-selector.js";
import type { LoginObjects } from "./object-cache.js";
import { DEFAULT_CONFIG_NAME, getAccessId } from "./store.js";
import type { AccessIdRecord, ClusterConfig, Role, ServiceAccountIdentity, VerifiedIdentity } from "./types.js";
import { verifyWithCluster, type Cluster } from "./verify.js";

export const LOGIN_FIELDS: Record<string, FieldSchema> = {
  role: { type: "string", description: "Role to log in to" },
  jwt: { type: "string", description: "The service-account token of the pod" },
  config: { type: "string", description: "Cluster config to verify the token with (default: the default config)" },
  access_id: { type: "string", description: "Log in through an access id (instead of role); needs its gateway config" },
};

export interface LoginDeps {
  clusters: ClusterRegistry;
  /** Where logins read roles and configs (kept between logins unless replicas share the storage). */
  objects: LoginObjects;
  /** Milliseconds. */
  now: () => number;
  logger: Logger;
}

/** `login`: a pod trades its service-account JWT for a latchkey token. Unauthenticated. */
export function loginPath(deps: LoginDeps): PathDef {
  return {
    pattern: "login",
    unauthenticated: true,
    fields: LOGIN_FIELDS,
    ops: { update: (req) => login(req, deps) },
    help: "Log in with a Kubernetes service-account token.",
  };
}

/**
 * The checks, cheapest first, so that a refused token costs no API call:
 * role, source address, config, JWT shape and algorithm, times, the role's
 * name/namespace/pod/audience bindings on the claims; then the cluster
 * (TokenReview or JWKS; for an access id, a signed assertion verified with the
 * stored public key); then, only for a verified token, the namespace selector.
 */
async function login(req: LogicalRequest, deps: LoginDeps): Promise<LogicalResponse> {
  const accessId = textInput(req.data.access_id);
  const requested = textInput(req.data.role);
  if (accessId === "" && requested === "") throw badRequest("missing role");
  const jwt = textInput(req.data.jwt);
  if (jwt === "") throw badRequest("missing jwt");
  const { roleName, role, access } = await resolveRole(req, deps.objects, accessId, requested);
  if (role.tokenBoundCidrs.length > 0 && !cidrAllows(role.tokenBoundCidrs, req.connection.remoteAddress)) {
    throw permissionDenied("source address not authorized");
  }
  const configName = textInput(req.data.config) || DEFAULT_CONFIG_NAME;
  const config = await resolveConfig(req, deps.objects, configName);
  if (!configAllowed(role, configName, config)) throw permissionDenied("config not authorized");

  const claims = parseServiceAccountJwt(jwt);
  const nowSeconds = Math.floor(deps.now() / 1000);
  checkTokenTimes(claims, nowSeconds);
  const namespaceListed = checkBindings(role, claims);

  const cluster = deps.clusters.get(configName, config);
  const opts = { audiences: role.audiences, now: deps.now, logger: deps.logger, caller: req };
  let identity: VerifiedIdentity;
  if (config.accessId !== "") {
    const record = access ?? (await getAccessId(req.storage, config.accessId));
    if (!record) throw permissionDenied("config not authorized");
    const assertion = await signVerifiedLogin({ jwt, claims, cluster, namespaceLabels: !namespaceListed }, opts);
    identity = await verifyAssertion(
      assertion,
      { accessId: record.accessId, publicKeyPem: record.publicKey, configName },
      Math.floor(deps.now() / 1000),
    );
    checkBindings(role, identity);
  } else {
    identity = await verifyWithCluster(jwt, claims, cluster, opts);
  }
  if (!namespaceListed) await checkNamespaceSelector(role, identity, cluster, jwt, req.signal);
  deps.logger.debug(
    { role: roleName, namespace: identity.namespace, service_account: identity.name, config: configName },
    "kubernetes login succeeded",
  );
  return { auth: authResponse(req.mountPath, roleName, role, identity, configName) };
}

async function resolveRole(
  req: LogicalRequest,
  objects: LoginObjects,
  accessId: string,
  requested: string,
): Promise<{ roleName: string; role: Role; access?: AccessIdRecord }> {
  let access: AccessIdRecord | undefined;
  if (accessId !== "") {
    access = ACCESS_ID_PATTERN.test(accessId) ? await getAccessId(req.storage, accessId) : undefined;
    if (!access) throw badRequest(`invalid access id ${quoted(accessId)}`);
    if (requested !== "" && requested !== access.role) {
      throw badRequest(`role ${quoted(requested)} does not belong to access id "${access.accessId}"`);
    }
  }
  const roleName = access?.role ?? requested;
  const role = isValidName(roleName) ? await objects.role(req.storage, roleName) : undefined;
  if (!role) throw badRequest(`invalid role name ${quoted(roleName)}`);
  return { roleName, role, access };
}

async function resolveConfig(req: LogicalRequest, objects: LoginObjects, name: string): Promise<ClusterConfig> {
  const config = isValidName(name) ? await objects.config(req.storage, name) : undefined;
  if (config) return config;
  if (name === DEFAULT_CONFIG_NAME && textInput(req.data.config) === "") {
    throw badRequest(`no default config: write auth/${req.mountPath.replace(/^auth\//, "")}config or name one in "config"`);
  }
  throw badRequest(`invalid config name ${quoted(name)}`);
}

/**
 * `bound_config_names` (empty: any), and access ids: a role made for an
 * access id logs in only through that access id's gateway configs, and a
 * gateway config serves only its access id's role.
 */
function configAllowed(role: Role, name: string, config: ClusterConfig): boolean {
  if (role.boundConfigNames.length > 0 && !matchesAny(role.boundConfigNames, name)) return false;
  return role.accessId === config.accessId;
}

/**
 * The role's bindings on what the token says. Returns whether the namespace is
 * listed; when it is not but the role has a selector, the caller checks the
 * selector once the token is verified.
 */
function checkBindings(role: Role, who: Pick<ServiceAccountIdentity, "namespace" | "name" | "podName" | "audiences">): boolean {
  if (!matchesAny(role.boundServiceAccountNames, who.name)) throw permissionDenied("service account name not authorized");
  const listed = matchesAny(role.boundServiceAccountNamespaces, who.namespace);
  if (!listed && role.namespaceSelector === "") throw permissionDenied("namespace not authorized");
  if (role.boundPodNames.length > 0 && (who.podName === undefined || !matchesAny(role.boundPodNames, who.podName))) {
    throw permissionDenied("pod not authorized");
  }
  if (role.audiences.length > 0 && !who.audiences.some((a) => role.audiences.includes(a))) {
    throw permissionDenied("audience not authorized");
  }
  return listed;
}

async function checkNamespaceSelector(
  role: Role,
  identity: VerifiedIdentity,
  cluster: Cluster,
  jwt: string,
  signal: AbortSignal | undefined,
): Promise<void> {
  const selector = parseNamespaceSelector(role.namespaceSelector);
  // A signed login carries the labels its gateway saw; the verifying side never calls the cluster itself.
  const labels =
    cluster.config.accessId !== ""
      ? identity.namespaceLabels
      : await cluster.connection.namespaces.labels(identity.namespace, signal, jwt);
  if (!labels || !selectorMatches(selector, labels)) throw permissionDenied("namespace not authorized");
}

/** Vault's login `auth`, plus pod and config metadata when known; the alias follows `alias_name_source`. */
function authResponse(
  mountPath: string,
  roleName: string,
  role: Role,
  who: VerifiedIdentity,
  configName: string,
): AuthResponse {
  const account = {
    service_account_name: who.name,
    service_account_namespace: who.namespace,
    service_account_secret_name: who.secretName,
    service_account_uid: who.uid,
  };
  // Built field by field: on Node 20 spreading `account` and adding to it cost microseconds a login.
  const metadata: Record<string, string> = {
    role: roleName,
    service_account_name: account.service_account_name,
    service_account_namespace: account.service_account_namespace,
    service_account_secret_name: account.service_account_secret_name,
    service_account_uid: account.service_account_uid,
  };
  if (who.podName !== undefined) {
    metadata["pod_name"] = who.podName;
    metadata["pod_uid"] = who.podUid ?? "";
  }
  if (configName !== DEFAULT_CONFIG_NAME) metadata["config_name"] = configName;
  const mountName = mountPath.replace(/^auth\//, "").replace(/\/$/, "");
  return {
    policies: role.tokenPolicies,
    metadata,
    alias: {
      name: role.aliasNameSource === "serviceaccount_name" ? `${who.namespace}/${who.name}` : who.uid,
      metadata: account,
    },
    displayName: `${mountName}-${who.namespace}-${who.name}`,
    ttl: role.tokenTtl,
    ...(role.tokenMaxTtl > 0 && { maxTtl: role.tokenMaxTtl }),
    ...(role.tokenExplicitMaxTtl > 0 && {
      explicitMaxTtl: role.tokenMaxTtl > 0 ? Math.min(role.tokenMaxTtl, role.tokenExplicitMaxTtl) : role.tokenExplicitMaxTtl,
    }),
    ...(role.tokenPeriod > 0 && { period: role.tokenPeriod }),
    ...(role.tokenNumUses > 0 && { numUses: role.tokenNumUses }),
    ...(role.tokenType !== "default" && { tokenType: role.tokenType }),
    ...(role.tokenBoundCidrs.length > 0 && { boundCidrs: role.tokenBoundCidrs }),
    ...(role.tokenNoDefaultPolicy && { noDefaultPolicy: true }),
    renewable: true,
  };
}

/** The core has coerced the login fields to strings; absent is "". */
const textInput = (value: unknown): string => (typeof value === "string" ? value.trim() : "");
