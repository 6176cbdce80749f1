import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { upstreamError } from "../../core/errors.js";
import { isRecord } from "../../core/input.js";
import { DEFAULT_CA_PATH, DEFAULT_TOKEN_PATH } from "../../auth/kubernetes/local-files.js";
import { createKubeClient, type KubeClient, type KubeClientConfig } from "../../kube/client.js";
import type { ClusterApi, Target, TargetClients } from "./types.js";

/** The server's own service-account files, as mounted into its pod; mount options move them (tests). */
export interface GatewayFiles {
  tokenPath: string;
  caPath: string;
}

export function gatewayFiles(options: Record<string, string>): GatewayFiles {
  return {
    tokenPath: options.service_account_token_path || DEFAULT_TOKEN_PATH,
    caPath: options.service_account_ca_path || DEFAULT_CA_PATH,
  };
}

export type ReadFile = (path: string) => Promise<string>;
const readText: ReadFile = (path) => readFile(path, "utf8");

/**
 * The gateway's token, read from its file for every call: the kubelet
 * rotates the projected token, so a copy kept in memory would outlive it.
 * An absent, empty or expired token is the operator's problem: 502.
 */
export async function gatewayToken(files: GatewayFiles, read: ReadFile = readText, now = Date.now): Promise<string> {
  const token = (await read(files.tokenPath).catch(() => "")).trim();
  if (token === "") throw upstreamError(502, `the server has no service-account token at ${files.tokenPath}`);
  const exp = expiryOf(token);
  if (exp !== undefined && exp * 1000 <= now()) {
    throw upstreamError(502, `the server's service-account token at ${files.tokenPath} has expired`);
  }
  return token;
}

/** The `exp` claim of a JWT, unverified: only to avoid sending a token known to be dead. */
function expiryOf(token: string): number | undefined {
  const exp = jwtClaims(token)?.exp;
  return typeof exp === "number" ? exp : undefined;
}

/** The claims of a JWT, unverified (the API server verifies it when it is used); undefined for other tokens. */
export function jwtClaims(token: string): Record<string, unknown> | undefined {
  try {
    const claims: unknown = JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8"));
    return isRecord(claims) ? claims : undefined;
  } catch {
    return undefined;
  }
}

/** The CA a target trusts: its own, else in gateway mode the pod's `ca.crt`, else the system's. */
export async function targetCa(target: Target, files: GatewayFiles, read: ReadFile = readText): Promise<string | undefined> {
  if (target.kubernetesCaCert !== "") return target.kubernetesCaCert;
  if (target.credential !== "gateway_service_account") return undefined;
  return (await read(files.caPath).catch(() => "")).trim() || undefined;
}

/** A target's client: what the engine calls, and `close` for its connection pool. */
export type PooledClient = ClusterApi & Pick<KubeClient, "close">;

export interface TargetClientsOptions {
  files: GatewayFiles;
  createClient?: (config: KubeClientConfig) => PooledClient;
  read?: ReadFile;
}

/**
 * One pooled kube client per target, rebuilt when the target (or the CA file
 * it falls back on) changes; `closeAll` on unmount.
 */
export function createTargetClients(opts: TargetClientsOptions): TargetClients & { closeAll(): Promise<void> } {
  const createClient = opts.createClient ?? createKubeClient;
  const read = opts.read ?? readText;
  const clients = new Map<string, { fingerprint: string; client: PooledClient }>();
  return {
    async clientFor(name, target) {
      const ca = await targetCa(target, opts.files, read);
      const fingerprint = createHash("sha256").update(JSON.stringify([target, ca])).digest("hex");
      const current = clients.get(name);
      if (current?.fingerprint === fingerprint) return current.client;
      if (current) void current.client.close().catch(() => undefined);
      const client = createClient({
        host: target.kubernetesHost,
        caPem: ca,
        ...(target.credential === "service_account_jwt" && { token: target.serviceAccountJwt }),
        ...(target.credential === "gateway_service_account" && { tokenProvider: () => gatewayToken(opts.files, read) }),
        ...(target.credential === "client_certificate" && { clientCertPem: target.clientCert, clientKeyPem: target.clientKey }),
      });
      clients.set(name, { fingerprint, client });
      return client;
    },
    async closeAll() {
      const all = [...clients.values()];
      clients.clear();
      await Promise.all(all.map((c) => c.client.close()));
    },
  };
}
