import { recordingLogger } from "../../auth/kubernetes/test-harness.js";
import { createCore } from "../../core/core.js";
import { KubeApiError, KubeUnavailableError } from "../../kube/errors.js";
import type { IssuedToken, KubeObject, TokenRequestOptions } from "../../kube/types.js";
import { createMemoryStore } from "../../storage/memory.js";
import { createKubernetesSecretsBackend } from "./backend.js";
import type { ClusterApi, Target, TargetClients } from "./types.js";

export const HOST = "https://k8s.test:6443";
export const TOKEN_PATH = "/gateway/token";
export const CA_PATH = "/gateway/ca.crt";

export interface TokenCall {
  namespace: string;
  serviceAccount: string;
  spec: TokenRequestOptions;
}

type Method = "GET" | "POST" | "DELETE";

/** What a fake call fails with: a KubeApiError by status, or an unreachable cluster. */
export type Failure = number | "down" | "timeout";

/**
 * An API server in memory: objects by path, with uids; TokenRequests
 * recorded; `fail` decides, per method and path, which calls fail.
 */
export function fakeCluster() {
  const objects = new Map<string, KubeObject & Record<string, unknown>>();
  const tokens: TokenCall[] = [];
  const calls: string[] = [];
  let uid = 0;
  const namespaces = new Map<string, Record<string, string>>();
  const rules: { method: Method; match: RegExp; failure: Failure; times: number }[] = [];
  const failure = (method: Method, path: string) => {
    const rule = rules.find((r) => r.method === method && r.match.test(path) && r.times !== 0);
    if (!rule) return;
    rule.times--;
    if (rule.failure === "down") throw new KubeUnavailableError("network", `${method} ${path} failed: ECONNREFUSED`);
    if (rule.failure === "timeout") throw new KubeUnavailableError("timeout", `${method} ${path} timed out`);
    const reason = { 403: "Forbidden", 404: "NotFound", 401: "Unauthorized", 409: "AlreadyExists", 429: "TooManyRequests" }[rule.failure] ?? "Unknown";
    const message =
      rule.failure === 403 && /bindings/.test(path)
        ? `user "x" is attempting to grant RBAC permissions not currently held`
        : `${reason} (fake)`;
    throw new KubeApiError(rule.failure, reason, message, method, path);
  };
  const api: ClusterApi = {
    host: HOST,
    async create<T>(path: string, body: unknown): Promise<T> {
      calls.push(`POST ${path}`);
      failure("POST", path);
      const obj = structuredClone(body) as KubeObject & Record<string, unknown>;
      const key = `${path}/${obj.metadata.name}`;
      if (objects.has(key)) throw new KubeApiError(409, "AlreadyExists", "already exists", "POST", path);
      obj.metadata.uid = `uid-${++uid}`;
      objects.set(key, obj);
      return obj as T;
    },
    async get<T>(path: string): Promise<T> {
      calls.push(`GET ${path}`);
      failure("GET", path);
      const obj = objects.get(path);
      if (!obj) throw new KubeApiError(404, "NotFound", "not found", "GET", path);
      return obj as T;
    },
    async delete(path: string) {
      calls.push(`DELETE ${path}`);
      failure("DELETE", path);
      return objects.delete(path);
    },
    async getNamespace(name: string) {
      const path = `/api/v1/namespaces/${name}`;
      calls.push(`GET ${path}`);
      failure("GET", path);
      const labels = namespaces.get(name);
      return labels ? { metadata: { name, labels } } : undefined;
    },
    async createTokenRequest(namespace: string, serviceAccount: string, spec: TokenRequestOptions): Promise<IssuedToken> {
      const path = `/api/v1/namespaces/${namespace}/serviceaccounts/${serviceAccount}/token`;
      calls.push(`POST ${path}`);
      failure("POST", path);
      tokens.push({ namespace, serviceAccount, spec });
      const seconds = spec.expirationSeconds ?? 3600;
      return {
        token: `token-${tokens.length}-for-${serviceAccount}`,
        expirationTimestamp: new Date(Date.now() + seconds * 1000).toISOString().replace(/\.\d+Z$/, "Z"),
      };
    },
  };
  return {
    api,
    objects,
    /** Namespaces that exist, with their labels. */
    namespaces,
    tokens,
    calls,
    /** The next `times` (default every) matching calls fail. */
    fail(method: Method, match: RegExp, failure: Failure, times = -1) {
      rules.push({ method, match, failure, times });
    },
    heal: () => void rules.splice(0),
    paths: () => [...objects.keys()].sort(),
  };
}

export type FakeCluster = ReturnType<typeof fakeCluster>;

/** A latchkey core with the engine mounted at `kube/` over `cluster`, and a root token. */
export async function engineCore(cluster: FakeCluster, opts: { files?: Record<string, string>; now?: () => number } = {}) {
  let bootId = "run-1";
  const logger = recordingLogger();
  const targets: { name: string; target: Target }[] = [];
  const clients: TargetClients = {
    async clientFor(name, target) {
      targets.push({ name, target });
      return cluster.api;
    },
  };
  const files = opts.files ?? {};
  const read = async (path: string) => {
    if (!(path in files)) throw new Error(`ENOENT: ${path}`);
    return files[path];
  };
  const physical = createMemoryStore();
  const core = createCore({
    physical,
    seal: { type: "shamir" },
    storageType: "memory",
    logger,
    backends: {
      mounts: {
        kubernetes: (ctx) =>
          createKubernetesSecretsBackend(ctx, {
            clients,
            read,
            files: { tokenPath: TOKEN_PATH, caPath: CA_PATH },
            env: {},
            now: opts.now,
            reconcileIntervalMs: 0,
            bootId,
          }),
      },
      auth: {},
    },
  });
  const { rootToken, keys } = await core.initialize({ secretShares: 1, secretThreshold: 1 });
  await core.services.mounts.enable("mounts", "kube", { type: "kubernetes" });
  const request = async (method: string, path: string, body: Record<string, unknown> = {}) => {
    const list = method === "LIST";
    const res = await core.handle({
      method: list ? "GET" : method,
      path,
      query: list ? { list: "true" } : {},
      body,
      token: rootToken,
      remoteAddress: "127.0.0.1",
    });
    // Tests read arbitrary fields of Vault-shaped JSON.
    return { status: res.status, body: (res.body ?? {}) as Record<string, any> };
  };
  /** Every stored value's bytes as text (what a disk would hold), to check no secret is there in plaintext. */
  const stored = async () => {
    const keys = await physical.scan("");
    return (await Promise.all(keys.map(async (k) => Buffer.from((await physical.get(k)) ?? []).toString("latin1")))).join("\n");
  };
  /**
   * Seals and unseals the core, so that the engine starts again (and
   * reconciles) as the next run of a server process, `boot`, would after a crash.
   */
  const restart = async (boot: string) => {
    bootId = boot;
    await core.seal();
    await core.sealManager.submitUnsealKey(keys[0]);
    await core.unsealed();
  };
  /** The engine's storage view, as the mount sees it. */
  const engineStorage = () => {
    const mounted = core.router.get("kube/");
    if (!mounted) throw new Error("kube/ is not mounted");
    return core.services.mounts.storageFor(mounted.entry);
  };
  return { core, logger, request, targets, files, stored, restart, engineStorage };
}

/** engineCore with a default target (config) and helpers to write roles and ask for credentials. */
export async function credsEngine(cluster: FakeCluster = fakeCluster(), opts: Parameters<typeof engineCore>[1] = {}) {
  const lk = await engineCore(cluster, opts);
  const config = await lk.request("POST", "kube/config", { kubernetes_host: HOST, kubernetes_ca_cert: CERT, service_account_jwt: "t" });
  if (config.status !== 204) throw new Error(`config answered ${config.status}`);
  const role = async (name: string, body: Record<string, unknown>) => {
    const res = await lk.request("POST", `kube/roles/${name}`, body);
    if (res.status !== 204) throw new Error(`role ${name} answered ${res.status}: ${JSON.stringify(res.body)}`);
  };
  const creds = (role: string, body: Record<string, unknown> = {}) => lk.request("POST", `kube/creds/${role}`, body);
  const revoke = (leaseId: string) => lk.request("POST", "sys/leases/revoke", { lease_id: leaseId });
  return { ...lk, cluster, role, creds, revoke };
}

/** A self-signed certificate and its key (P-256), and a key that does not belong to it. */
export const CERT = `-----BEGIN CERTIFICATE-----
MIIBhzCCAS2gAwIBAgIUdJ6txmv32C6+QGkbK+zPY9UdXagwCgYIKoZIzj0EAwIw
GDEWMBQGA1UEAwwNbGF0Y2hrZXktdGVzdDAgFw0yNjEyMDEyMDMzMDBaGA8yMTI2
MTEwNzIwMzMwMFowGDEWMBQGA1UEAwwNbGF0Y2hrZXktdGVzdDBZMBMGByqGSM49
AgEGCCqGSM49AwEHA0IABO+EFMeAyxqYb0HBVC1u5/gm5/HIu42A52a+5+xVO9hu
r7Jg9Lauil3Ejg0xeOP/TB+qT3J6GQtUfIgDkowL/HejUzBRMB0GA1UdDgQWBBSM
MSgrGfawBJM0lpbNYHSpbWy+pDAfBgNVHSMEGDAWgBSMMSgrGfawBJM0lpbNYHSp
bWy+pDAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0gAMEUCIDeZmeHXsMN/
CY6lyRGcFDYdf0G2bM6SLadymhI6WeW0AiEA9oSf2i8tziwnpoxId4cwjkI2+6hK
QUqPtnxxWa40xlE=
-----END CERTIFICATE-----
`;
export const KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgEUYXeeeIrCvAvxab
zbQqMCq3Y9iI2zVdSQya7AoKhI2hRANCAATvhBTHgMsamG9BwVQtbuf4JufxyLuN
gOdmvufsVTvYbq+yYPS2ropdxI4NMXjj/0wfqk9yehkLVHyIA5KMC/x3
-----END PRIVATE KEY-----
`;
export const OTHER_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg7S+8QqXAXdI4q4N8
MR5G8tSTz2EcVwxrU2nlCgioNU2hRANCAAQqaMg3n9/lMhLqgdHbomiugx2Ka38o
lnHvi2DsoZE8m7/NYGsAmE+ApKik49w2VKA1OrWYOGNGZ3WgXWGh3t6t
-----END PRIVATE KEY-----
`;

/** A JWT-shaped gateway token whose `exp` is `exp` (Unix seconds). */
export function gatewayJwt(exp: number): string {
  const part = (v: object) => Buffer.from(JSON.stringify(v)).toString("base64url");
  return `${part({ alg: "RS256" })}.${part({ sub: "system:serviceaccount:latchkey:server", exp })}.sig`;
}

/** Reference 001's `--k8s-rolebinding-yaml-def` example. */
export const REFERENCE_YAML = `apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: example-role
rules:
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: example-role
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: example-role
`;

