/**
 * What latchkey's integration suites use to talk to the test cluster: the
 * connection settings, unique namespaces, service accounts, pods, RBAC objects,
 * TokenRequest tokens, a kubectl wrapper, and clean-up of everything made.
 *
 *   afterAll(cleanup);
 *   const ns = await uniqueNamespace();
 *   const sa = await createServiceAccount(ns, "app");
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { createKubeClient, type KubeClient, type KubeClientConfig } from "../../src/kube/client.js";
import { redact } from "../../src/kube/errors.js";
import { loadKubeconfig } from "../../src/kube/kubeconfig.js";
import type { IssuedToken, Namespace, PolicyRule, Pod, RoleRef, ServiceAccount, Subject } from "../../src/kube/types.js";

export interface KubeTestEnv {
  /** Admin (system:masters) connection settings. */
  admin: KubeClientConfig;
  host: string;
  caPem?: string;
  /** Path of a kubeconfig for kubectl, when one was given. */
  kubeconfig?: string;
}

/** The name and uid of an object the helper created. */
export interface CreatedRef {
  namespace?: string;
  name: string;
  uid: string;
}

const RBAC = "/apis/rbac.authorization.k8s.io/v1";

const NO_CLUSTER = `latchkey's Kubernetes integration tests need a running API server and found none in the environment.
Run them with \`npm test\` (it starts and stops a local cluster), or start one yourself:
  scripts/k8s-test-cluster.sh start && eval "$(scripts/k8s-test-cluster.sh env)"
or point them at an existing cluster with KUBECONFIG (or KUBE_HOST, KUBE_CA and KUBE_ADMIN_TOKEN).`;

let env: KubeTestEnv | undefined;
let admin: KubeClient | undefined;
const clients: KubeClient[] = [];
/** API paths of created objects, deleted newest first by cleanup(). */
const created: string[] = [];

/**
 * Reads the cluster from KUBE_HOST + KUBE_ADMIN_TOKEN (+ KUBE_CA, a PEM file
 * path) or else from KUBECONFIG's current context. Throws, never skips, when
 * neither is set: a suite that silently does nothing proves nothing.
 */
export function kubeTestEnv(): KubeTestEnv {
  if (env) return env;
  const kubeconfig = process.env.KUBECONFIG?.split(":").find((p) => p !== "");
  const host = process.env.KUBE_HOST;
  const token = process.env.KUBE_ADMIN_TOKEN;
  let config: KubeClientConfig;
  if (host && token) {
    const caPath = process.env.KUBE_CA;
    config = { host, token, caPem: caPath ? readFileSync(caPath, "utf8") : undefined };
  } else if (kubeconfig) {
    config = loadKubeconfig(kubeconfig);
  } else {
    throw new Error(NO_CLUSTER);
  }
  env = { admin: config, host: config.host, caPem: config.caPem, kubeconfig };
  return env;
}

/** A client with the admin identity, shared by the helpers in this test file. */
export function adminClient(): KubeClient {
  admin ??= createKubeClient({ ...kubeTestEnv().admin, timeoutMs: 20_000 });
  return admin;
}

/** A client that presents `token` (anonymous without one), closed by cleanup(). */
export function clientAs(token?: string): KubeClient {
  const { host, caPem } = kubeTestEnv();
  const client = createKubeClient({ host, caPem, token, timeoutMs: 20_000 });
  clients.push(client);
  return client;
}

/** A DNS-1123 name unique across test runs sharing one cluster. */
export function uniqueName(prefix: string): string {
  const suffix = `${Date.now().toString(36)}-${randomBytes(3).toString("hex")}`;
  return `${prefix.toLowerCase().slice(0, 63 - suffix.length - 1)}-${suffix}`;
}

/**
 * Creates a namespace of its own for a test. The test cluster never finalises
 * deleted namespaces, so names are never reused.
 */
export async function uniqueNamespace(labels: Record<string, string> = {}): Promise<string> {
  const name = uniqueName("lk-test");
  await make<Namespace>("/api/v1/namespaces", {
    apiVersion: "v1",
    kind: "Namespace",
    metadata: { name, labels: { "latchkey.test": "true", ...labels } },
  });
  return name;
}

/** The test cluster creates no `default` service account; make the ones a test needs. */
export async function createServiceAccount(namespace: string, name: string): Promise<CreatedRef> {
  const sa = await make<ServiceAccount>(`/api/v1/namespaces/${namespace}/serviceaccounts`, {
    apiVersion: "v1",
    kind: "ServiceAccount",
    metadata: { name, namespace },
  });
  return ref(sa);
}

/** A pod running as `serviceAccount`. Nothing schedules it: it stays Pending, which is enough to bind tokens to. */
export async function createPod(namespace: string, name: string, serviceAccount: string): Promise<CreatedRef> {
  const pod = await make<Pod>(`/api/v1/namespaces/${namespace}/pods`, {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace },
    spec: {
      serviceAccountName: serviceAccount,
      containers: [{ name: "app", image: "latchkey.invalid/test:none" }],
    },
  });
  return ref(pod);
}

export async function createRole(namespace: string, name: string, rules: PolicyRule[]): Promise<CreatedRef> {
  return ref(await make(`${RBAC}/namespaces/${namespace}/roles`, { metadata: { name, namespace }, rules, ...rbacKind("Role") }));
}

/** Cluster-scoped: pass a uniqueName() so parallel runs do not collide. */
export async function createClusterRole(name: string, rules: PolicyRule[]): Promise<CreatedRef> {
  return ref(await make(`${RBAC}/clusterroles`, { metadata: { name }, rules, ...rbacKind("ClusterRole") }));
}

export async function createRoleBinding(
  namespace: string,
  name: string,
  roleRef: RoleRef,
  subjects: Subject[],
): Promise<CreatedRef> {
  return ref(
    await make(`${RBAC}/namespaces/${namespace}/rolebindings`, {
      metadata: { name, namespace },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", ...roleRef },
      subjects,
      ...rbacKind("RoleBinding"),
    }),
  );
}

/** Cluster-scoped: pass a uniqueName() so parallel runs do not collide. */
export async function createClusterRoleBinding(name: string, clusterRole: string, subjects: Subject[]): Promise<CreatedRef> {
  return ref(
    await make(`${RBAC}/clusterrolebindings`, {
      metadata: { name },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: clusterRole },
      subjects,
      ...rbacKind("ClusterRoleBinding"),
    }),
  );
}

export function serviceAccountSubject(namespace: string, name: string): Subject {
  return { kind: "ServiceAccount", name, namespace };
}

/**
 * A service-account token from TokenRequest. Default expiry is 600 s, the
 * least the API server accepts; default audience is the API server's own.
 */
export async function tokenRequest(
  namespace: string,
  serviceAccount: string,
  opts: { audiences?: string[]; expirationSeconds?: number; pod?: { name: string; uid: string } } = {},
): Promise<IssuedToken> {
  return adminClient().createTokenRequest(namespace, serviceAccount, {
    audiences: opts.audiences,
    expirationSeconds: opts.expirationSeconds ?? 600,
    boundPod: opts.pod,
  });
}

/** Runs the real kubectl as the admin identity and resolves with its stdout; rejects with its stderr. */
export function kubectl(args: string[], opts: { input?: string } = {}): Promise<string> {
  const { kubeconfig, host, admin: config } = kubeTestEnv();
  const connection = kubeconfig
    ? []
    : [`--server=${host}`, ...(config.token ? [`--token=${config.token}`] : []), ...caFlag()];
  return new Promise((resolve, reject) => {
    const child = execFile(
      process.env.KUBECTL ?? "kubectl",
      [...connection, ...args],
      {
        env: { ...process.env, ...(kubeconfig ? { KUBECONFIG: kubeconfig } : {}) },
        timeout: 60_000,
        maxBuffer: 16 * 1024 * 1024,
      },
      (err, stdout, stderr) => {
        if (err) {
          const message = `kubectl ${args.join(" ")} failed: ${stderr.trim() || err.message}`;
          reject(new Error(redact(message, [config.token])));
        } else {
          resolve(stdout);
        }
      },
    );
    child.stdin?.end(opts.input ?? "");
  });
}

/** Deletes everything the helpers made (newest first) and closes their clients. */
export async function cleanup(): Promise<void> {
  const failures: string[] = [];
  for (const path of created.splice(0).reverse()) {
    try {
      await adminClient().delete(path);
    } catch (err) {
      failures.push(`${path}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  await Promise.all(clients.splice(0).map((c) => c.close()));
  if (admin) {
    await admin.close();
    admin = undefined;
  }
  if (failures.length > 0) throw new Error(`cleanup could not delete:\n${failures.join("\n")}`);
}

async function make<T extends { metadata: { name?: string } }>(collection: string, body: object): Promise<T> {
  const obj = await adminClient().create<T>(collection, body);
  created.push(`${collection}/${obj.metadata.name}`);
  return obj;
}

function ref(obj: { metadata: { namespace?: string; name?: string; uid?: string } }): CreatedRef {
  const { namespace, name, uid } = obj.metadata;
  if (!name || !uid) throw new Error("the API server returned an object without name or uid");
  return namespace ? { namespace, name, uid } : { name, uid };
}

function rbacKind(kind: string): { apiVersion: string; kind: string } {
  return { apiVersion: "rbac.authorization.k8s.io/v1", kind };
}

function caFlag(): string[] {
  const ca = process.env.KUBE_CA;
  return ca ? [`--certificate-authority=${ca}`] : [];
}
