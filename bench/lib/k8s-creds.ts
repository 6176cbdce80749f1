import { randomBytes } from "node:crypto";
import { createKubeClient, type KubeClient } from "../../src/kube/client.js";
import type { KubeObject, PolicyRule } from "../../src/kube/types.js";
import { collectionPath, objectHead } from "../../src/secrets/kubernetes/objects.js";
import type { ObjectRef } from "../../src/secrets/kubernetes/types.js";
import {
  cleanup,
  createClusterRole,
  createServiceAccount,
  identityWith,
  kubeTestEnv,
  MANAGED_BY_LATCHKEY,
  objectsLabelled,
  SA_REQUEST,
  uniqueName,
  uniqueNamespace,
} from "../../test/helpers/k8s.js";
import { useTestCluster } from "./k8s.js";
import { api, pooledApi, startLatchkey } from "./latchkey.js";
import { peakRssMb } from "./processes.js";
import type { BenchContext, Measurement, Scenario } from "./types.js";

/**
 * The three shapes of `creds/<role>` the issuance scenarios measure: a token
 * for an existing service account (bound to a per-lease Secret), a temporary
 * service account bound to a predefined ClusterRole, and one with a Role
 * generated from rules.
 */
export type CredsMode = "fixed" | "dynamic-role" | "generated-rules";

/** What the generated and predefined roles grant; the figures do not depend on it. */
const PODS: PolicyRule[] = [{ apiGroups: [""], resources: ["pods"], verbs: ["get", "list"] }];
/** The least the API server accepts (TokenRequest `expirationSeconds` ≥ 600), as the role's TTL gives. */
const TOKEN_SECONDS = 600;
const FIXED_ACCOUNT = "app";

/** Issues measured one after another, after unmeasured warm-up ones; each leaves objects until the end of the scenario. */
const SAMPLES = { quick: 40, full: 300 };
const WARMUP = { quick: 5, full: 20 };

interface CredsFixture {
  host: string;
  caPem: string;
  namespace: string;
  /** A service account holding reference 001's `sa-request` rules (plus Secrets): the target's identity, and the baseline's. */
  jwt: string;
  /** The predefined ClusterRole of `dynamic-role`. */
  clusterRole: string;
}

/**
 * A namespace of its own, the target identity, the fixed service account and
 * the predefined ClusterRole. Clean-up deletes the namespace, and with it
 * whatever a baseline created in it.
 */
async function credsFixture(ctx: BenchContext): Promise<CredsFixture> {
  const env = kubeTestEnv();
  ctx.defer(() => cleanup());
  const namespace = await uniqueNamespace({ "latchkey.bench": "true" });
  const jwt = await identityWith(namespace, "latchkey-jit", SA_REQUEST);
  await createServiceAccount(namespace, FIXED_ACCOUNT);
  const clusterRole = uniqueName("lk-bench-pods");
  await createClusterRole(clusterRole, PODS);
  return { host: env.host, caPem: env.caPem ?? "", namespace, jwt, clusterRole };
}

/** The latchkey role of each mode (`kubernetes/roles/<mode>`), keeping `prepared` credentials made ahead. */
function roleFor(mode: CredsMode, fx: CredsFixture, prepared: number): Record<string, unknown> {
  const common = { allowed_kubernetes_namespaces: [fx.namespace], token_default_ttl: `${TOKEN_SECONDS}s`, prepared_credentials: prepared };
  if (mode === "fixed") return { ...common, service_account_name: FIXED_ACCOUNT };
  if (mode === "dynamic-role") return { ...common, kubernetes_role_type: "ClusterRole", kubernetes_role_name: fx.clusterRole };
  return { ...common, kubernetes_role_type: "Role", generated_role_rules: JSON.stringify({ rules: PODS }) };
}

/** Latencies of one kind of issue: p50, p99 and max in ms, and issues per second of the time they took. */
interface Latencies {
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  ops_per_s: number;
}

function latencies(ms: number[]): Latencies {
  const sorted = [...ms].sort((a, b) => a - b);
  const round = (n: number) => Math.round(n * 100) / 100;
  const at = (p: number) => round(sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]);
  const total = ms.reduce((a, b) => a + b, 0) / 1000;
  return { p50_ms: at(50), p99_ms: at(99), max_ms: round(sorted[sorted.length - 1]), ops_per_s: Math.round((ms.length / total) * 10) / 10 };
}

/**
 * Times each of `issuers` `SAMPLES` times, one issue at a time, after the
 * warm-up. With several, they take turns, so that each sees the same load
 * of a shared machine. `gapMs` of idle time (not measured) follow every
 * step, so that work a step leaves running in the background (making the
 * next prepared credential) ends before the next step is timed, whichever
 * issuer that is.
 */
async function sequentialLatency(ctx: BenchContext, issuers: (() => Promise<void>)[], gapMs = 0): Promise<Latencies[]> {
  const size = ctx.settings.quick ? "quick" : "full";
  const gap = () => (gapMs > 0 ? new Promise((resolve) => setTimeout(resolve, gapMs)) : undefined);
  for (let i = 0; i < WARMUP[size]; i++) {
    for (const issue of issuers) {
      await issue();
      await gap();
    }
  }
  const ms: number[][] = issuers.map(() => []);
  for (let i = 0; i < SAMPLES[size]; i++) {
    for (const [k, issue] of issuers.entries()) {
      const start = performance.now();
      await issue();
      ms[k].push(performance.now() - start);
      await gap();
    }
  }
  return ms.map(latencies);
}

const measurement = (l: Latencies, ctx: BenchContext): Measurement & { details: Record<string, unknown> } => ({
  ops_per_s: l.ops_per_s,
  p50_ms: l.p50_ms,
  p99_ms: l.p99_ms,
  peak_rss_mb: null,
  details: { issues: SAMPLES[ctx.settings.quick ? "quick" : "full"], max_ms: l.max_ms },
});

/**
 * The baseline: the API calls latchkey makes for one credential, issued by
 * the harness itself one after another on one keep-alive client with the
 * target's identity and the same bodies (latchkey's labels and annotations).
 */
async function directIssue(client: KubeClient, mode: CredsMode, fx: CredsFixture): Promise<void> {
  const name = `bench-${randomBytes(4).toString("hex")}`;
  const namespace = fx.namespace;
  const labels = { "app.kubernetes.io/managed-by": "latchkey-bench", "latchkey.io/mount": "bench", "latchkey.io/lease": randomBytes(12).toString("hex") };
  const annotations = { "latchkey.io/mount-path": "kubernetes/", "latchkey.io/role": mode };
  const create = <T extends KubeObject>(ref: ObjectRef, body: object) =>
    client.create<T>(collectionPath(ref), { ...objectHead(ref, labels, annotations), ...body });
  const token = { audiences: [], expirationSeconds: TOKEN_SECONDS };

  if (mode === "fixed") {
    const secret = await create({ kind: "Secret", name, namespace }, { type: "Opaque" });
    await client.createTokenRequest(namespace, FIXED_ACCOUNT, { ...token, boundSecret: { name, uid: secret.metadata.uid ?? "" } });
    return;
  }
  await create({ kind: "ServiceAccount", name, namespace }, {});
  const roleRef =
    mode === "dynamic-role" ? { kind: "ClusterRole", name: fx.clusterRole } : { kind: "Role", name };
  if (mode === "generated-rules") await create({ kind: "Role", name, namespace }, { rules: PODS });
  await create(
    { kind: "RoleBinding", name, namespace },
    { roleRef: { apiGroup: "rbac.authorization.k8s.io", ...roleRef }, subjects: [{ kind: "ServiceAccount", name, namespace }] },
  );
  await client.createTokenRequest(namespace, name, token);
}

/** A keep-alive client of the API server with the target's identity, closed after the scenario. */
function directClient(ctx: BenchContext, fx: CredsFixture): KubeClient {
  const client = createKubeClient({ host: fx.host, caPem: fx.caPem, token: fx.jwt, timeoutMs: 20_000 });
  ctx.defer(() => client.close());
  return client;
}

/** The scenario of the direct API calls for `mode`: the ceiling latchkey's issue is compared with. */
export function directCredsScenario(mode: CredsMode, about: string): Scenario {
  return {
    name: `k8s-creds-${mode}-direct`,
    about,
    unavailable: async () => useTestCluster(),
    async run(ctx) {
      const fx = await credsFixture(ctx);
      const client = directClient(ctx, fx);
      const [direct] = await sequentialLatency(ctx, [() => directIssue(client, mode, fx)]);
      return measurement(direct, ctx);
    },
  };
}

/**
 * How the role and the run differ from the plain scenario: credentials kept
 * made ahead (the role's `prepared_credentials`), and idle time after each
 * step (see sequentialLatency).
 */
export interface CredsVariant {
  prepared?: number;
  gapMs?: number;
}

/**
 * `POST kubernetes/creds/<role>` to a latchkey server (SQLite, its own process)
 * whose mount's config is the fixture's target, one after another, taking
 * turns with the direct calls of one credential and with a token lookup
 * (latchkey's round trip without the engine): on a shared machine whose
 * load moves from minute to minute, only the paired ratio compares like with
 * like, so the target is checked on it; the ratios to the direct scenario run
 * just before are reported too. Afterwards every lease is revoked (how long
 * that takes, and that it leaves no latchkey-labelled object in the
 * namespace, go into the details).
 */
export function credsScenario(mode: CredsMode, about: string, maxRatio: number, variant: CredsVariant = {}): Scenario {
  const baseline = `k8s-creds-${mode}-direct`;
  const prepared = variant.prepared ?? 0;
  return {
    name: `k8s-creds-${mode}${prepared > 0 ? "-prepared" : ""}`,
    about,
    baseline,
    target: {
      text: `p50 ≤ ${maxRatio.toFixed(1)}× paired direct`,
      met: (r) => typeof r.details?.paired_p50_ratio === "number" && r.details.paired_p50_ratio <= maxRatio,
    },
    unavailable: async () => useTestCluster(),
    async run(ctx) {
      const fx = await credsFixture(ctx);
      const server = await startLatchkey(ctx, { mode: "config" }, `k8s-creds-${mode}`);
      const { address, rootToken } = server;
      await api(address, "POST", "sys/mounts/kubernetes", rootToken, { type: "kubernetes" });
      await api(address, "POST", "kubernetes/config", rootToken, {
        kubernetes_host: fx.host,
        kubernetes_ca_cert: fx.caPem,
        service_account_jwt: fx.jwt,
      });
      await api(address, "POST", `kubernetes/roles/${mode}`, rootToken, roleFor(mode, fx, prepared));
      const warnings: string[] = [];
      // Revoked even when the run fails half-way, before the namespace goes.
      ctx.defer(() => api(address, "PUT", "sys/leases/revoke-prefix/kubernetes", rootToken).then(() => undefined));
      const client = directClient(ctx, fx);
      // The kind of client the direct calls use (undici on a keep-alive Agent), for the measured requests.
      const pooled = pooledApi(ctx);
      const issueThroughLatchkey = async () => {
        const res = await pooled<{ warnings?: string[] | null }>(address, "POST", `kubernetes/creds/${mode}`, rootToken, {});
        if (res.warnings?.length) warnings.push(...res.warnings);
      };
      // A request that costs latchkey its HTTP round trip and token check but no engine work: what is left is the engine's.
      const lookupSelf = () => pooled(address, "GET", "auth/token/lookup-self", rootToken).then(() => undefined);
      const gapMs = variant.gapMs ?? 0;
      const [ours, paired, roundTrip] = await sequentialLatency(ctx, [issueThroughLatchkey, () => directIssue(client, mode, fx), lookupSelf], gapMs);
      const m = measurement(ours, ctx);
      const revokeStart = performance.now();
      await api(address, "PUT", "sys/leases/revoke-prefix/kubernetes", rootToken);
      const revokeS = Math.round((performance.now() - revokeStart) / 10) / 100;
      const left = (await objectsLabelled(MANAGED_BY_LATCHKEY)).filter((o) => o.includes(`/${fx.namespace}/`)).length;
      const base = ctx.results.get(baseline);
      const ratio = (latchkey: number | null, direct: number | null | undefined) =>
        latchkey !== null && direct ? Math.round((latchkey / direct) * 100) / 100 : null;
      return {
        ...m,
        peak_rss_mb: peakRssMb(server.process.pid),
        details: {
          ...m.details,
          p50_ratio: ratio(m.p50_ms, base?.p50_ms),
          p99_ratio: ratio(m.p99_ms, base?.p99_ms),
          paired_direct_p50_ms: paired.p50_ms,
          paired_direct_p99_ms: paired.p99_ms,
          paired_p50_ratio: ratio(m.p50_ms, paired.p50_ms),
          paired_p99_ratio: ratio(m.p99_ms, paired.p99_ms),
          paired_lookup_self_p50_ms: roundTrip.p50_ms,
          revoke_all_s: revokeS,
          prepared_credentials: prepared,
          gap_ms: gapMs,
          objects_left_after_revoke: left,
          ...(warnings.length > 0 && { warnings: [...new Set(warnings)] }),
        },
      };
    },
  };
}
