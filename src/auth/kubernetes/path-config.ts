import { badRequest, notFound } from "../../core/errors.js";
import type { FieldSchema, LogicalRequest, LogicalResponse, PathDef } from "../../core/types.js";
import { keyPairMatches } from "./access-keys.js";
import {
  checkCertificates,
  checkClientKeyPair,
  isValidName,
  pemInput,
  privateKeyOf,
  publicKeysOf,
  quoted,
  stringList,
} from "../../core/input.js";
import { DEFAULT_CONFIG_NAME, deleteConfig, getAccessId, getConfig, listConfigs, putConfig } from "./store.js";
import type { ClusterConfig, ValidationMode } from "./types.js";
import { DEFAULT_ISSUER } from "./verify.js";

export const MAX_REVIEW_CACHE_TTL = 10;
export const DEFAULT_TOKEN_EXP = 300;
const MAX_TOKEN_EXP = 3600;

export const CONFIG_FIELDS: Record<string, FieldSchema> = {
  kubernetes_host: {
    type: "string",
    description: "URL of the API server; in a pod, defaults to https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT",
  },
  kubernetes_ca_cert: { type: "string", description: "PEM (or base64 of PEM) CA bundle of the API server" },
  token_reviewer_jwt: { type: "string", description: "JWT used to call TokenReview; never returned" },
  pem_keys: { type: "string_list", description: "Public keys or certificates that verify service-account JWTs" },
  issuer: { type: "string", description: "Expected iss claim when issuer validation is on" },
  disable_iss_validation: { type: "bool", default: true, description: "Skip the iss check (default true)" },
  disable_local_ca_jwt: { type: "bool", default: false, description: "Do not use the server's own service-account token and CA" },
  client_cert: { type: "string", description: "PEM client certificate for TokenReview (instead of a bearer token)" },
  client_key: { type: "string", description: "PEM key of client_cert; never returned" },
  validation: {
    type: "string",
    default: "tokenreview",
    description: "tokenreview (default) or jwks: verify signatures locally; such logins cannot see a token revoked early",
  },
  jwks_url: { type: "string", description: "JWKS of the cluster's service-account issuer (jwks validation); default: OIDC discovery" },
  review_cache_ttl: { type: "duration", default: 0, description: "Seconds (0-10) to reuse a successful review of the same JWT" },
  access_id: { type: "string", description: "Makes this a gateway config of an access id: its logins are signed" },
  signing_key: { type: "string", description: "The access id's private key (PEM or base64 of PEM); never returned" },
  token_exp: { type: "duration", default: DEFAULT_TOKEN_EXP, description: "Lifetime of signed login assertions (default 300s)" },
};

export interface ConfigPathOptions {
  /** The server's environment, for the in-cluster default of `kubernetes_host`. */
  env: Record<string, string | undefined>;
  /** Called after a config is written or deleted, so its live connection is rebuilt. */
  onChange?: (name: string) => void;
}

/**
 * `config` (the default config, Vault's path) and `config/<name>` (named
 * configs, one per cluster or gateway); LIST on `config` or `config/` names
 * them. A write replaces the whole config, as Vault's does.
 */
export function configPaths(opts: ConfigPathOptions): PathDef[] {
  const list = async (req: LogicalRequest): Promise<LogicalResponse> => {
    const keys = await listConfigs(req.storage);
    if (keys.length === 0) throw notFound("");
    return { data: { keys } };
  };
  const ops = (nameOf: (req: LogicalRequest) => string): PathDef["ops"] => ({
    read: async (req) => {
      const config = await getConfig(req.storage, nameOf(req));
      if (!config) throw notFound("");
      return { data: renderConfig(config) };
    },
    update: async (req) => {
      const name = nameOf(req);
      await putConfig(req.storage, name, await configFromInput(req, opts));
      opts.onChange?.(name);
      return undefined;
    },
    delete: async (req) => {
      const name = nameOf(req);
      await deleteConfig(req.storage, name);
      opts.onChange?.(name);
      return undefined;
    },
  });
  return [
    {
      pattern: "config",
      fields: CONFIG_FIELDS,
      exists: async (req) => (await getConfig(req.storage, DEFAULT_CONFIG_NAME)) !== undefined,
      ops: { ...ops(() => DEFAULT_CONFIG_NAME), list },
      help: "The default cluster config; LIST names every config.",
    },
    { pattern: "config/", ops: { list }, help: "List the cluster configs." },
    {
      pattern: "config/:name",
      fields: CONFIG_FIELDS,
      exists: async (req) => (await getConfig(req.storage, configName(req))) !== undefined,
      ops: ops(configName),
      help: "A named cluster config; `config/default` is the default config.",
    },
  ];
}

function configName(req: LogicalRequest): string {
  const name = req.params.name;
  if (!isValidName(name)) throw badRequest(`invalid config name ${quoted(name)}`);
  return name;
}

async function configFromInput(req: LogicalRequest, opts: ConfigPathOptions): Promise<ClusterConfig> {
  const d = req.data;
  const str = (key: string) => {
    const value = d[key];
    return typeof value === "string" ? value.trim() : "";
  };
  const validation = validationOf(d.validation);
  const config: ClusterConfig = {
    kubernetesHost: str("kubernetes_host") || inClusterHost(opts.env),
    kubernetesCaCert: pemInput(d.kubernetes_ca_cert, "kubernetes_ca_cert"),
    tokenReviewerJwt: str("token_reviewer_jwt"),
    pemKeys: stringList(d.pem_keys, "pem_keys").map((key) => pemInput(key, "pem_keys")),
    issuer: str("issuer"),
    disableIssValidation: d.disable_iss_validation !== false,
    disableLocalCaJwt: d.disable_local_ca_jwt === true,
    clientCert: pemInput(d.client_cert, "client_cert"),
    clientKey: pemInput(d.client_key, "client_key"),
    validation,
    jwksUrl: str("jwks_url"),
    reviewCacheTtl: typeof d.review_cache_ttl === "number" ? d.review_cache_ttl : 0,
    accessId: str("access_id"),
    signingKey: pemInput(d.signing_key, "signing_key"),
    tokenExp: typeof d.token_exp === "number" ? d.token_exp : DEFAULT_TOKEN_EXP,
  };
  if (!config.disableIssValidation && config.issuer === "") config.issuer = DEFAULT_ISSUER;
  checkConnection(config);
  if (config.reviewCacheTtl > MAX_REVIEW_CACHE_TTL) {
    throw badRequest(`field "review_cache_ttl" must be between 0 and ${MAX_REVIEW_CACHE_TTL} seconds`);
  }
  await checkAccessId(req, config);
  return config;
}

function checkConnection(c: ClusterConfig): void {
  // jwks validation with keys at hand needs no API server; everything else talks to one.
  const needsHost = !(c.validation === "jwks" && (c.pemKeys.length > 0 || c.jwksUrl !== ""));
  if (c.kubernetesHost === "" && needsHost) throw badRequest(`no host provided: "kubernetes_host" is required`);
  if (c.kubernetesHost !== "") checkUrl(c.kubernetesHost, "kubernetes_host");
  if (c.jwksUrl !== "") checkUrl(c.jwksUrl, "jwks_url");
  if (c.kubernetesCaCert !== "") checkCertificates(c.kubernetesCaCert, "kubernetes_ca_cert");
  publicKeysOf(c.pemKeys, "pem_keys");
  if (c.tokenReviewerJwt !== "" && !/^[\w-]+\.[\w-]+\.[\w-]+$/.test(c.tokenReviewerJwt)) {
    throw badRequest(`field "token_reviewer_jwt" must be a JWT`);
  }
  if ((c.clientCert === "") !== (c.clientKey === "")) throw badRequest(`"client_cert" and "client_key" must be given together`);
  if (c.clientCert !== "") {
    if (c.tokenReviewerJwt !== "") throw badRequest(`"token_reviewer_jwt" and "client_cert" are mutually exclusive`);
    checkClientKeyPair(c.clientCert, c.clientKey);
  }
}

/**
 * A gateway config must hold the access id's own private key: the server keeps
 * only the public half, so the key is proven by deriving its public key and
 * comparing it with the stored one. A key that does not match is refused.
 */
async function checkAccessId(req: LogicalRequest, c: ClusterConfig): Promise<void> {
  if (c.accessId === "") {
    if (c.signingKey !== "") throw badRequest(`field "signing_key" needs "access_id"`);
    return;
  }
  const record = await getAccessId(req.storage, c.accessId);
  if (!record) throw badRequest(`access id ${quoted(c.accessId)} does not exist`);
  if (c.signingKey === "") throw badRequest(`field "signing_key" is required with "access_id"`);
  if (!keyPairMatches(privateKeyOf(c.signingKey, "signing_key"), record.publicKey)) {
    throw badRequest(`field "signing_key" does not match the public key of access id "${c.accessId}"`);
  }
  if (c.tokenExp < 1 || c.tokenExp > MAX_TOKEN_EXP) {
    throw badRequest(`field "token_exp" must be between 1 and ${MAX_TOKEN_EXP} seconds`);
  }
}

function checkUrl(value: string, field: string): void {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw badRequest(`field "${field}" must be an http(s) URL`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") throw badRequest(`field "${field}" must be an http(s) URL`);
}

function validationOf(value: unknown): ValidationMode {
  if (value === undefined || value === null || value === "" || value === "tokenreview") return "tokenreview";
  if (value === "jwks") return "jwks";
  throw badRequest(`field "validation" must be "tokenreview" or "jwks"`);
}

/** Kubernetes sets these in every pod; `use-gw-service-account` relies on them. */
function inClusterHost(env: Record<string, string | undefined>): string {
  const host = env.KUBERNETES_SERVICE_HOST;
  if (!host) return "";
  const port = env.KUBERNETES_SERVICE_PORT || "443";
  return `https://${host.includes(":") ? `[${host}]` : host}:${port}`;
}

/** The config as read: secrets are replaced by `*_set` flags (Vault's `token_reviewer_jwt_set`). */
export function renderConfig(c: ClusterConfig): Record<string, unknown> {
  return {
    kubernetes_host: c.kubernetesHost,
    kubernetes_ca_cert: c.kubernetesCaCert,
    token_reviewer_jwt_set: c.tokenReviewerJwt !== "",
    pem_keys: c.pemKeys,
    issuer: c.issuer,
    disable_iss_validation: c.disableIssValidation,
    disable_local_ca_jwt: c.disableLocalCaJwt,
    client_cert: c.clientCert,
    client_key_set: c.clientKey !== "",
    validation: c.validation,
    jwks_url: c.jwksUrl,
    review_cache_ttl: c.reviewCacheTtl,
    access_id: c.accessId,
    signing_key_set: c.signingKey !== "",
    token_exp: c.tokenExp,
  };
}
