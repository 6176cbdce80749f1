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
import { pino } from "pino";
import { createCore } from "../../src/core/core.js";
import { createKubeClient, type KubeClient, type KubeClientConfig } from "../../src/kube/client.js";
import { redact } from "../../src/kube/errors.js";
import { loadKubeconfig } from "../../src/kube/kubeconfig.js";
import type {
  AccessReviewStatus,
  IssuedToken,
  KubeList,
  KubeObject,
  Namespace,
  PolicyRule,
  Pod,
  ResourceAttributes,
  RoleRef,
  ServiceAccount,
  Subject,
  TokenReviewStatus,
} from "../../src/kube/types.js";
import { kubernetesSecretsBackendFactory } from "../../src/secrets/kubernetes/index.js";
import { buildApp } from "../../src/server/app.js";
import { DEFAULT_CONFIG } from "../../src/server/config.js";
import { createMemoryStore } from "../../src/storage/memory.js";

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

/** Creates a namespace of its own for a test, under a name no other test uses. */
export async function uniqueNamespace(labels: Record<string, string> = {}): Promise<string> {
  const name = uniqueName("lk-test");
  await make<Namespace>("/api/v1/namespaces", {
    apiVersion: "v1",
    kind: "Namespace",
    metadata: { name, labels: { "latchkey.test": "true", ...labels } },
  });
  return name;
}

/** A service account for a test (new namespaces also get a `default` one from the controller-manager). */
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

/** A client that authenticates with a client certificate (PEM), closed by cleanup(). */
export function clientWithCertificate(certPem: string, keyPem: string): KubeClient {
  const { host, caPem } = kubeTestEnv();
  const client = createKubeClient({ host, caPem, clientCertPem: certPem, clientKeyPem: keyPem, timeoutMs: 20_000 });
  clients.push(client);
  return client;
}

/**
 * Has cleanup() delete the object at API path `path` (e.g. one a test made
 * with kubectl); an object already gone by then is fine.
 */
export function deleteOnCleanup(path: string): void {
  created.push(path);
}

/** authorization.k8s.io/v1 SelfSubjectAccessReview with `token`: may its holder do this? */
export async function canI(token: string, attributes: ResourceAttributes): Promise<boolean> {
  const review = await clientAs(token).create<{ status?: AccessReviewStatus }>(
    "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
    { apiVersion: "authorization.k8s.io/v1", kind: "SelfSubjectAccessReview", spec: { resourceAttributes: attributes } },
  );
  return review.status?.allowed === true;
}

/** TokenReview of `token` through the admin client, for the API server's own audience. */
export async function reviewToken(token: string): Promise<TokenReviewStatus> {
  return adminClient().tokenReview(token, []);
}

/** Resolves once `check` holds, trying every 500 ms for up to `timeoutMs`; rejects with `what` otherwise. */
export async function eventually(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`still not true after ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

const LABELLED_COLLECTIONS = [
  "/api/v1/serviceaccounts",
  "/api/v1/secrets",
  `${RBAC}/roles`,
  `${RBAC}/rolebindings`,
  `${RBAC}/clusterroles`,
  `${RBAC}/clusterrolebindings`,
];

/** `kind/namespace/name` of every ServiceAccount, Secret and RBAC object matching `labelSelector`, cluster-wide. */
export async function objectsLabelled(labelSelector: string): Promise<string[]> {
  const lists = await Promise.all(
    LABELLED_COLLECTIONS.map((path) => adminClient().get<KubeList<KubeObject>>(path, { query: { labelSelector } })),
  );
  return lists.flatMap((list, i) =>
    list.items.map((o) => `${LABELLED_COLLECTIONS[i].split("/").pop()}/${o.metadata.namespace ?? ""}/${o.metadata.name}`),
  );
}

/**
 * A service account in `namespace` that holds `rules` cluster-wide, and a
 * TokenRequest token for it: an identity latchkey can be given as a target's
 * `service_account_jwt`. The ClusterRole and its binding are cleaned up.
 */
export async function identityWith(namespace: string, name: string, rules: PolicyRule[]): Promise<string> {
  await createServiceAccount(namespace, name);
  const role = uniqueName(`lk-${name}`);
  await createClusterRole(role, rules);
  await createClusterRoleBinding(role, role, [serviceAccountSubject(namespace, name)]);
  return (await tokenRequest(namespace, name, { expirationSeconds: 3600 })).token;
}

/** The label selector of every object the kubernetes secrets engine creates. */
export const MANAGED_BY_LATCHKEY = "app.kubernetes.io/managed-by=latchkey";

// Tests read arbitrary fields of Vault-shaped JSON.
type Json = Record<string, any>;

/**
 * An in-process latchkey with the kubernetes secrets engine mounted at
 * `kube/` (with `options`), driven through its HTTP layer as root. Until the
 * server's registry mounts the engine by type, this builds the core with the
 * engine as the registry's `kubernetes` entry.
 */
export async function secretsEngine(options: Record<string, string> = {}) {
  const logger = pino({ level: "silent" });
  const core = createCore({
    physical: createMemoryStore(),
    seal: { type: "shamir" },
    storageType: "memory",
    logger,
    backends: { mounts: { kubernetes: kubernetesSecretsBackendFactory }, auth: {} },
    leaseTickMs: 250,
  });
  const { rootToken } = await core.initialize({ secretShares: 1, secretThreshold: 1 });
  const app = await buildApp({ core, logger, maxRequestSize: DEFAULT_CONFIG.maxRequestSize, listener: DEFAULT_CONFIG.listener });
  const request = async (method: "GET" | "POST" | "PUT" | "DELETE", path: string, body?: object) => {
    const res = await app.inject({
      method,
      url: `/v1/${path}`,
      headers: { "x-vault-token": rootToken, ...(body && { "content-type": "application/json" }) },
      payload: body && JSON.stringify(body),
    });
    return { status: res.statusCode, json: (res.body ? JSON.parse(res.body) : {}) as Json, text: res.body };
  };
  /** A request that must succeed; resolves with its JSON. */
  const ok = async (method: "POST" | "PUT", path: string, body: object) => {
    const res = await request(method, path, body);
    if (res.status !== 200 && res.status !== 204) throw new Error(`${method} ${path} answered ${res.status}: ${res.text}`);
    return res.json;
  };
  await ok("POST", "sys/mounts/kube", { type: "kubernetes", options });
  return {
    request,
    ok,
    /** Writes `config` (name "") or `targets/<name>` for the test cluster with `credential`. */
    target: (name: string, credential: Record<string, unknown>) => {
      const { host, caPem } = kubeTestEnv();
      return ok("POST", name === "" ? "kube/config" : `kube/targets/${name}`, { kubernetes_host: host, kubernetes_ca_cert: caPem, ...credential });
    },
    revoke: (leaseId: string) => ok("PUT", "sys/leases/revoke", { lease_id: leaseId }),
    close: async () => {
      await app.close();
      await core.close();
    },
  };
}

export type SecretsEngine = Awaited<ReturnType<typeof secretsEngine>>;

/** Reference 001's `tokenrequest` ClusterRole: enough for fixed mode, but not for Secret-bound tokens. */
export const TOKEN_REQUEST: PolicyRule[] = [{ apiGroups: [""], resources: ["serviceaccounts/token", "serviceaccounts"], verbs: ["create", "get"] }];
/** Reference 001's `sa-request` ClusterRole, plus the Secrets latchkey binds fixed-mode tokens to. */
export const SA_REQUEST: PolicyRule[] = [
  { apiGroups: [""], resources: ["namespaces"], verbs: ["get"] },
  { apiGroups: [""], resources: ["serviceaccounts", "serviceaccounts/token"], verbs: ["get", "create", "update", "delete"] },
  { apiGroups: ["rbac.authorization.k8s.io"], resources: ["rolebindings", "clusterrolebindings"], verbs: ["get", "create", "update", "delete"] },
  { apiGroups: ["rbac.authorization.k8s.io"], resources: ["roles", "clusterroles"], verbs: ["get", "bind", "escalate", "create", "update", "delete"] },
  { apiGroups: [""], resources: ["pods"], verbs: ["list"] },
  { apiGroups: [""], resources: ["secrets"], verbs: ["create", "delete"] },
];

/**
 * A manifest as the test API server can take it: the shipped manifests use policy/v1
 * PodDisruptionBudgets (served from 1.21; v1beta1 is gone in 1.25), which an older server knows
 * only as policy/v1beta1.
 */
export async function forTestServer(manifest: string): Promise<string> {
  const version = await adminClient().get<{ minor: string }>("/version");
  if (Number.parseInt(version.minor, 10) >= 21) return manifest;
  return manifest.replace(/apiVersion: policy\/v1\n(kind: PodDisruptionBudget)/g, "apiVersion: policy/v1beta1\n$1");
}
