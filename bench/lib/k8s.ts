import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { api, type LatchkeyServer } from "./latchkey.js";
import { REPO } from "./processes.js";
import { REQUESTS_MODULE } from "./requests.js";

/** Why the Kubernetes auth method cannot be benchmarked yet, or undefined when it is built and registered. */
export async function kubernetesAuthMissing(): Promise<string | undefined> {
  try {
    const main = (await import(pathToFileURL(join(REPO, "dist", "server", "main.js")).href)) as {
      BACKENDS?: { auth?: Record<string, unknown> };
    };
    if (!main.BACKENDS?.auth?.kubernetes) return "the kubernetes auth method is not registered in src/server/main.ts BACKENDS.auth";
  } catch (err) {
    return `dist/server/main.js does not load: ${(err as Error).message}`;
  }
  return undefined;
}

/**
 * The local test cluster's connection settings (scripts/k8s-test-cluster.sh env),
 * exported into this process for test/helpers/k8s.ts; an error message when none runs.
 * A cluster given through KUBE_HOST and KUBE_ADMIN_TOKEN is used as it is.
 */
export function useTestCluster(): string | undefined {
  if (process.env.KUBE_HOST && process.env.KUBE_ADMIN_TOKEN) return undefined;
  const script = join(REPO, "scripts", "k8s-test-cluster.sh");
  const status = spawnSync("bash", [script, "status"], { encoding: "utf8" });
  if (status.status !== 0) return "no local Kubernetes API server (scripts/k8s-test-cluster.sh start)";
  const env = spawnSync("bash", [script, "env"], { encoding: "utf8" });
  if (env.status !== 0) return `scripts/k8s-test-cluster.sh env failed: ${env.stderr.trim()}`;
  for (const m of env.stdout.matchAll(/^export (KUBE_[A-Z_]+)=(.*)$/gm)) process.env[m[1]] = m[2].replace(/^'|'$/g, "");
  return process.env.KUBE_HOST && process.env.KUBE_ADMIN_TOKEN ? undefined : "the cluster script printed no KUBE_HOST/KUBE_ADMIN_TOKEN";
}

/** Mounts the kubernetes auth method at auth/kubernetes/ with `config` and a role `app` that admits the benchmark's pods. */
export async function mountKubernetesAuth(
  server: LatchkeyServer,
  config: Record<string, unknown>,
  role: Record<string, unknown>,
): Promise<void> {
  const { address, rootToken } = server;
  await api(address, "POST", "sys/auth/kubernetes", rootToken, { type: "kubernetes" });
  await api(address, "POST", "auth/kubernetes/config", rootToken, config);
  await api(address, "PUT", "sys/policies/acl/app", rootToken, { policy: `path "secret/data/app/*" { capabilities = ["read"] }` });
  await api(address, "POST", "auth/kubernetes/role/app", rootToken, {
    bound_service_account_names: ["*"],
    bound_service_account_namespaces: ["*"],
    token_policies: ["app"],
    token_ttl: "1h",
    ...role,
  });
}

/** The load of a login scenario: logins to role `app` round a set of service-account JWTs. */
export function loginLoad(jwts: string[]) {
  return {
    module: REQUESTS_MODULE,
    name: "postEach",
    args: { path: "/v1/auth/kubernetes/login", bodies: jwts.map((jwt) => ({ role: "app", jwt })) },
  };
}
