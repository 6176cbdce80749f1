/** Starts the injector from its flags: the Kubernetes client, TLS, the HTTPS server and the reconciler. */
import { existsSync, readFileSync } from "node:fs";
import { pino, type Logger } from "pino";
import { parseDuration } from "../core/tokens/duration.js";
import { createKubeClient, type KubeClient, type KubeClientConfig } from "../kube/client.js";
import { loadKubeconfig } from "../kube/kubeconfig.js";
import type { InjectorOptions } from "./patch.js";
import type { Server as HttpsServer } from "node:https";
import { buildInjectorServer, createInjectorMetrics, reconcileOnce, serverSupportsNativeSidecars } from "./server.js";
import { startLeaderElection, type LeaderElector } from "./leader.js";
import { setCaBundle, startAutoTls, watchPairFiles, type ServingPair } from "./tls.js";
import { startSharedTls } from "./tls-shared.js";

export interface InjectorFlags {
  listen: string;
  latchkeyAddr: string;
  agentImage: string;
  agentCaFile?: string;
  tokenAudience?: string;
  tokenExpiration?: string;
  tlsCertFile?: string;
  tlsKeyFile?: string;
  tlsAuto?: boolean;
  webhookConfigName?: string;
  tlsHosts?: string;
  /** Serving certificate validity under --tls-auto; renewed at two thirds of it. */
  tlsValidity?: string;
  /**
   * Under --tls-auto: the Secret (in the injector's namespace) that replicas
   * share the CA and serving pair through; the Lease of the same name elects
   * the one replica that writes it. Absent: one replica, keys in memory only.
   */
  tlsSecretName?: string;
  /** How long a silent leader keeps the Lease. Default 15 s. */
  leaderLeaseDuration?: string;
  kubeconfig?: string;
  nativeSidecars?: "auto" | "on" | "off";
  namespace?: string;
  reconcileInterval?: string;
}

export interface RunningInjector {
  server: HttpsServer;
  port: number;
  /** Under --tls-auto: the CA bundle published, and a forced renewal (with --tls-secret-name, on the leader only). */
  bundle(): string | undefined;
  /** With --tls-secret-name: whether this replica holds the Lease. */
  isLeader(): boolean;
  rotate(): Promise<void>;
  close(): Promise<void>;
}

const SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

/** Validates the flags (a clear message for each mistake) and starts serving. */
export async function startInjector(flags: InjectorFlags, logger: Logger = pino({ level: "info" })): Promise<RunningInjector> {
  const listen = /^(.*):(\d{1,5})$/.exec(flags.listen);
  if (!listen) throw new Error(`--listen must be host:port, not "${flags.listen}"`);
  if (!/^https?:\/\//.test(flags.latchkeyAddr)) throw new Error("--latchkey-addr must be an http:// or https:// URL");
  if (!flags.agentImage) throw new Error("--agent-image is required");
  const fromFiles = flags.tlsCertFile !== undefined || flags.tlsKeyFile !== undefined;
  if (fromFiles === Boolean(flags.tlsAuto)) throw new Error("give either --tls-cert-file with --tls-key-file, or --tls-auto");
  if (fromFiles && (!flags.tlsCertFile || !flags.tlsKeyFile)) throw new Error("--tls-cert-file and --tls-key-file go together");
  const hosts = (flags.tlsHosts ?? "").split(",").map((h) => h.trim()).filter((h) => h !== "");
  if (flags.tlsAuto && (!flags.webhookConfigName || hosts.length === 0)) {
    throw new Error("--tls-auto needs --webhook-config-name and --tls-hosts");
  }
  if (flags.tlsSecretName !== undefined && !flags.tlsAuto) throw new Error("--tls-secret-name goes with --tls-auto");
  if (flags.tlsSecretName !== undefined && !/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(flags.tlsSecretName)) {
    throw new Error(`--tls-secret-name must be a Kubernetes object name, not "${flags.tlsSecretName}"`);
  }
  const leaseMs = parseDuration(flags.leaderLeaseDuration ?? "15s", "--leader-lease-duration") * 1000;
  if (leaseMs < 2000) throw new Error("--leader-lease-duration must be at least 2s");
  const validityMs = parseDuration(flags.tlsValidity ?? "720h", "--tls-validity") * 1000;
  if (flags.tlsAuto && validityMs < 30_000) throw new Error("--tls-validity must be at least 30s");
  const nativeMode = flags.nativeSidecars ?? "auto";
  if (!["auto", "on", "off"].includes(nativeMode)) throw new Error("--native-sidecars must be auto, on or off");

  const interval = parseDuration(flags.reconcileInterval ?? "60s", "--reconcile-interval") * 1000;
  // Without --tls-auto, --native-sidecars auto or the reconciler the injector needs no API server at all.
  const kube = flags.tlsAuto || nativeMode === "auto" || interval > 0 ? createKubeClient(kubeConfig(flags.kubeconfig)) : undefined;
  // Run last registered first, then the client: the Lease is handed back through it.
  const closers: (() => unknown)[] = [];
  const closeAll = async (): Promise<void> => {
    for (const close of closers.reverse()) await close();
    await kube?.close();
  };
  const api = (): KubeClient => {
    if (!kube) throw new Error("the injector was started without a Kubernetes client");
    return kube;
  };
  try {
    const nativeSidecars = nativeMode === "auto" ? await serverSupportsNativeSidecars(api()) : nativeMode === "on";
    const ownNamespace = flags.namespace ?? process.env.POD_NAMESPACE ?? readIfExists(`${SA_DIR}/namespace`);
    const options: InjectorOptions = {
      agentImage: flags.agentImage,
      latchkeyAddr: flags.latchkeyAddr,
      caFile: flags.agentCaFile,
      tokenAudience: flags.tokenAudience ?? "latchkey",
      tokenExpirationSeconds: Math.max(600, parseDuration(flags.tokenExpiration ?? "600", "--token-expiration")),
      nativeSidecars,
      ownNamespace,
    };
    const metrics = createInjectorMetrics();
    let swap: (pair: ServingPair) => void = () => undefined;
    const onPair = (pair: ServingPair): void => swap(pair);
    const onError = (err: Error): void => logger.error({ err }, err.message);
    let pair: ServingPair;
    let auto: { pair: ServingPair; bundle(): string | undefined; rotate(): Promise<void>; stop(): void } | undefined;
    let elector: LeaderElector | undefined;
    const name = flags.webhookConfigName ?? "";
    if (flags.tlsAuto && flags.tlsSecretName !== undefined) {
      if (!ownNamespace) throw new Error("--tls-secret-name needs the injector's namespace: give --namespace or set POD_NAMESPACE");
      const lease = { namespace: ownNamespace, name: flags.tlsSecretName };
      elector = startLeaderElection(api(), { ...lease, leaseDurationMs: leaseMs, onError: (err) => logger.warn({ err }, err.message) });
      const leading = elector;
      closers.push(() => leading.stop());
      auto = await startSharedTls(api(), {
        namespace: ownNamespace,
        secretName: flags.tlsSecretName,
        webhookConfigName: name,
        hosts,
        validityMs,
        leader: leading,
        onPair,
        onError,
        onInfo: (message) => logger.info({ identity: leading.identity }, message),
      });
      closers.push(() => auto?.stop());
      pair = auto.pair;
    } else if (flags.tlsAuto) {
      auto = await startAutoTls({ hosts, validityMs, publishBundle: (bundle) => setCaBundle(api(), name, bundle), onPair, onError });
      pair = auto.pair;
      closers.push(() => auto?.stop());
    } else {
      const files = watchPairFiles(flags.tlsCertFile ?? "", flags.tlsKeyFile ?? "", onPair, onError);
      pair = files.pair;
      closers.push(() => files.stop());
    }
    const server = buildInjectorServer({ options, metrics, https: pair });
    swap = (next) => {
      // Existing connections keep their session; new handshakes get the new pair.
      server.setSecureContext({ cert: next.cert, key: next.key });
      logger.info("serving a renewed TLS certificate");
    };
    closers.push(
      () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeIdleConnections();
        }),
    );
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(Number(listen[2]), listen[1]?.replace(/^\[|\]$/g, "") || undefined, () => {
        server.off("error", reject);
        resolve();
      });
    });
    const address = server.address();
    const port = typeof address === "object" && address !== null ? address.port : Number(listen[2]);

    if (interval > 0) {
      const skip = ["kube-system", ...(ownNamespace ? [ownNamespace] : [])];
      const timer = setInterval(() => {
        reconcileOnce(api(), metrics, skip).catch((err: Error) => logger.warn({ err }, "reconciling opted-in pods failed"));
      }, interval);
      timer.unref();
      closers.push(() => clearInterval(timer));
    }
    logger.info({ port, nativeSidecars }, "latchkey injector listening");
    return {
      server,
      port,
      bundle: () => auto?.bundle(),
      isLeader: () => elector?.isLeader() ?? false,
      rotate: () => auto?.rotate() ?? Promise.resolve(),
      close: closeAll,
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}

/** `--kubeconfig`, else in-cluster (the pod's service account, its token re-read as kubelet rotates it). */
function kubeConfig(kubeconfig: string | undefined): KubeClientConfig {
  if (kubeconfig) return loadKubeconfig(kubeconfig);
  const host = process.env.KUBERNETES_SERVICE_HOST;
  const port = process.env.KUBERNETES_SERVICE_PORT ?? "443";
  if (!host) throw new Error("not running in a pod: give --kubeconfig");
  return {
    host: `https://${host.includes(":") ? `[${host}]` : host}:${port}`,
    caPem: readIfExists(`${SA_DIR}/ca.crt`),
    tokenProvider: () => readFileSync(`${SA_DIR}/token`, "utf8").trim(),
  };
}

function readIfExists(path: string): string | undefined {
  return existsSync(path) ? readFileSync(path, "utf8").trim() : undefined;
}

