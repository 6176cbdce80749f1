import { readFileSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { parse } from "yaml";
import type { KubeClientConfig } from "./client.js";

type Named = { name?: unknown };

/**
 * Reads a kubeconfig file into client settings for `context` (default: its
 * current-context). Supports server + CA (file or data), bearer tokens (inline
 * or tokenFile, re-read on every request) and client certificates; exec and
 * auth-provider plugins are refused rather than half-supported.
 */
export function loadKubeconfig(path: string, context?: string): KubeClientConfig {
  const doc: unknown = parse(readFileSync(path, "utf8"));
  const root = asRecord(doc, "kubeconfig");
  const baseDir = dirname(path);
  const contextName = context ?? stringField(root, "current-context");
  if (!contextName) throw new Error(`kubeconfig ${path}: no context given and no current-context`);
  const ctx = asRecord(findNamed(root.contexts, contextName, "context", path).context, `context ${contextName}`);
  const clusterName = stringField(ctx, "cluster");
  const userName = stringField(ctx, "user");
  if (!clusterName) throw new Error(`kubeconfig ${path}: context ${contextName} names no cluster`);
  const cluster = asRecord(findNamed(root.clusters, clusterName, "cluster", path).cluster, `cluster ${clusterName}`);
  const user = userName ? asRecord(findNamed(root.users, userName, "user", path).user ?? {}, `user ${userName}`) : {};

  const host = stringField(cluster, "server");
  if (!host) throw new Error(`kubeconfig ${path}: cluster ${clusterName} has no server`);
  if (cluster["insecure-skip-tls-verify"] === true) {
    throw new Error(`kubeconfig ${path}: insecure-skip-tls-verify is not supported; give certificate-authority`);
  }
  if (user.exec !== undefined || user["auth-provider"] !== undefined) {
    throw new Error(`kubeconfig ${path}: user ${userName} uses an exec/auth-provider plugin, which is not supported`);
  }

  const file = (key: string, from: Record<string, unknown>): string | undefined => {
    const data = stringField(from, `${key}-data`);
    if (data) return Buffer.from(data, "base64").toString("utf8");
    const p = stringField(from, key);
    return p ? readFileSync(isAbsolute(p) ? p : resolve(baseDir, p), "utf8") : undefined;
  };

  const config: KubeClientConfig = {
    host,
    caPem: file("certificate-authority", cluster),
    clientCertPem: file("client-certificate", user),
    clientKeyPem: file("client-key", user),
  };
  const token = stringField(user, "token");
  const tokenFile = stringField(user, "tokenFile");
  if (token) config.token = token;
  else if (tokenFile) {
    const p = isAbsolute(tokenFile) ? tokenFile : resolve(baseDir, tokenFile);
    config.tokenProvider = () => readFileSync(p, "utf8");
  }
  return config;
}

function asRecord(value: unknown, what: string): Record<string, unknown> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new Error(`kubeconfig: ${what} is not a mapping`);
  }
  return value as Record<string, unknown>;
}

function stringField(obj: Record<string, unknown>, key: string): string | undefined {
  const value = obj[key];
  return typeof value === "string" && value !== "" ? value : undefined;
}

function findNamed(list: unknown, name: string, what: string, path: string): Record<string, unknown> {
  const found = Array.isArray(list) ? list.find((item: Named) => item?.name === name) : undefined;
  if (found === undefined) throw new Error(`kubeconfig ${path}: no ${what} named ${name}`);
  return asRecord(found, `${what} ${name}`);
}
