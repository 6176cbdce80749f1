/**
 * `--tls-auto` for several replicas: one Secret in the injector's namespace
 * holds the CAs and the serving pair; the replica holding the Lease is the only
 * one that generates, rotates and publishes the caBundle, and every replica
 * (the leader too) serves whatever pair the Secret holds, read every poll.
 *
 * Rotation that rejects no review on any replica:
 * - the bundle holds the serving CA and the next one, published at least
 *   `settleMs` before the leader writes a pair signed by the next CA;
 * - after a rotation it also keeps the previous CA, so replicas that have not
 *   yet read the new pair still verify until the next rotation.
 * Every Secret write carries the resourceVersion read (a 409 aborts the round),
 * so two replicas that both believe they lead can never overwrite each other.
 */
import type { KubeClient } from "../kube/client.js";
import { isNotFound, KubeApiError } from "../kube/errors.js";
import type { LeaderElector } from "./leader.js";
import { bundleOf, exportCa, generateCa, getCaBundle, importCa, issueServing, setCaBundle, type OnPair, type ServingPair } from "./tls.js";

/** Keys of the Secret's data: the serving pair under the kubernetes.io/tls names, and the CAs. */
const KEYS = { cert: "tls.crt", key: "tls.key", ca: "ca.crt", next: "next-ca.crt", nextKey: "next-ca.key", previous: "previous-ca.crt" } as const;
const RENEW_AFTER = "latchkey.io/renew-after";
const PUBLISHED_AT = "latchkey.io/bundle-published-at";

interface Secret {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string; annotations?: Record<string, string> };
  type?: string;
  data?: Record<string, string>;
}

/** What the Secret holds once the leader has written it. */
interface SharedState {
  cert: string;
  key: string;
  ca: string;
  next: string;
  nextKey: string;
  previous?: string;
  renewAfter: number;
  /** When the bundle of these CAs was last published; absent: not yet (or being republished). */
  publishedAt?: number;
}

export interface SharedTlsOptions {
  namespace: string;
  secretName: string;
  webhookConfigName: string;
  hosts: string[];
  validityMs: number;
  /** Default 2/3: renew when that fraction of the serving certificate's validity has passed. */
  renewAt?: number;
  /** How long a published bundle must stand before a pair it newly trusts is served. Default 10 s. */
  settleMs?: number;
  /** How often every replica reads the Secret, and the leader checks it and the caBundle. Default 2 s. */
  pollMs?: number;
  /** How long to wait at start for the leader's first pair. Default 120 s. */
  startTimeoutMs?: number;
  leader: LeaderElector;
  onPair: OnPair;
  onError: (err: Error) => void;
  onInfo?: (message: string) => void;
}

export interface SharedTls {
  pair: ServingPair;
  /** The bundle this replica last saw published. */
  bundle(): string | undefined;
  /** On the leader: renew now (still waiting for the bundle to settle). Elsewhere: fails, naming the leader's role. */
  rotate(): Promise<void>;
  stop(): void;
}

const b64 = (text: string): string => Buffer.from(text).toString("base64");
const unb64 = (text: string | undefined): string | undefined => (text === undefined ? undefined : Buffer.from(text, "base64").toString("utf8"));

function parseState(secret: Secret | undefined): SharedState | undefined {
  const data = secret?.data ?? {};
  const [cert, key, ca, next, nextKey] = [KEYS.cert, KEYS.key, KEYS.ca, KEYS.next, KEYS.nextKey].map((k) => unb64(data[k]));
  const renewAfter = Date.parse(secret?.metadata.annotations?.[RENEW_AFTER] ?? "");
  if (!cert || !key || !ca || !next || !nextKey || Number.isNaN(renewAfter)) return undefined;
  const published = Date.parse(secret?.metadata.annotations?.[PUBLISHED_AT] ?? "");
  return { cert, key, ca, next, nextKey, previous: unb64(data[KEYS.previous]), renewAfter, publishedAt: Number.isNaN(published) ? undefined : published };
}

const bundleOfState = (s: SharedState): string => bundleOf(...[s.previous, s.ca, s.next].filter((p): p is string => Boolean(p)).map((pem) => ({ pem })));

/** Thrown when another writer changed the Secret between our read and our write. */
class Superseded extends Error {}

/** Starts reading the shared Secret (and, while leading, maintaining it); resolves once a published pair exists. */
export async function startSharedTls(kube: KubeClient, options: SharedTlsOptions): Promise<SharedTls> {
  const path = `/api/v1/namespaces/${encodeURIComponent(options.namespace)}/secrets/${encodeURIComponent(options.secretName)}`;
  const settleMs = options.settleMs ?? 10_000;
  const pollMs = options.pollMs ?? 2_000;
  const caValidity = options.validityMs * 3;
  let serving: string | undefined;
  let bundle: string | undefined;

  const read = async (): Promise<Secret | undefined> => {
    try {
      return await kube.get<Secret>(path);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  };

  /** Writes `state` over `from` (create when there was none); only while leading, and only over what was read. */
  const write = async (from: Secret | undefined, state: SharedState): Promise<Secret> => {
    if (!options.leader.isLeader()) throw new Superseded("no longer the leader");
    const body: Secret = {
      apiVersion: "v1",
      kind: "Secret",
      metadata: {
        ...(from?.metadata ?? { name: options.secretName, namespace: options.namespace }),
        annotations: {
          ...from?.metadata.annotations,
          [RENEW_AFTER]: new Date(state.renewAfter).toISOString(),
          [PUBLISHED_AT]: state.publishedAt === undefined ? "" : new Date(state.publishedAt).toISOString(),
        },
      },
      type: from?.type ?? "Opaque",
      data: {
        [KEYS.cert]: b64(state.cert),
        [KEYS.key]: b64(state.key),
        [KEYS.ca]: b64(state.ca),
        [KEYS.next]: b64(state.next),
        [KEYS.nextKey]: b64(state.nextKey),
        ...(state.previous ? { [KEYS.previous]: b64(state.previous) } : {}),
      },
    };
    try {
      return from ? await kube.request<Secret>("PUT", path, body) : await kube.create<Secret>(path.replace(/\/[^/]+$/, ""), body);
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 409) throw new Superseded("the TLS secret changed under us");
      throw err;
    }
  };

  /** A new serving pair from `signer`, and the fields that go with it. */
  const issue = async (signerCert: string, signerKey: string) => {
    const signer = await importCa(signerCert, signerKey);
    const pair = await issueServing(signer, options.hosts, options.validityMs);
    const fresh = await exportCa(await generateCa(caValidity));
    return { cert: pair.cert, key: pair.key, next: fresh.cert, nextKey: fresh.key, renewAfter: Date.now() + options.validityMs * (options.renewAt ?? 2 / 3) };
  };

  const publish = async (secret: Secret, state: SharedState): Promise<Secret> => {
    const wanted = bundleOfState(state);
    await setCaBundle(kube, options.webhookConfigName, wanted);
    bundle = wanted;
    return write(secret, { ...state, publishedAt: Date.now() });
  };

  /** One leader round: create, republish or rotate as the Secret and the webhook need. */
  const lead = async (force: boolean): Promise<void> => {
    let secret = await read();
    let state = parseState(secret);
    if (!state) {
      const ca = await exportCa(await generateCa(caValidity));
      const first = await issue(ca.cert, ca.key);
      state = { ...first, ca: ca.cert };
      secret = await write(secret, state);
      options.onInfo?.("generated the webhook CA and serving certificate");
    }
    const wanted = bundleOfState(state);
    const published = await getCaBundle(kube, options.webhookConfigName);
    if (state.publishedAt === undefined || published !== wanted) {
      // A first bundle, a leader that died before publishing, or a caBundle reset by hand (kubectl apply).
      await publish(secret as Secret, state);
      return;
    }
    bundle = wanted;
    if (!force && Date.now() < state.renewAfter) return;
    const unsettled = state.publishedAt + settleMs - Date.now();
    if (unsettled > 0 && !force) return;
    if (unsettled > 0) await new Promise((resolve) => setTimeout(resolve, unsettled));
    const next = await issue(state.next, state.nextKey);
    const rotated: SharedState = { ...next, ca: state.next, previous: state.ca };
    secret = await write(secret as Secret, rotated);
    options.onInfo?.("renewed the webhook serving certificate");
    await publish(secret, rotated);
  };

  /** Every replica: serve the Secret's pair once published, and whenever it changes. */
  const sync = async (): Promise<void> => {
    const state = parseState(await read());
    if (!state || (serving === undefined && state.publishedAt === undefined)) return;
    bundle ??= bundleOfState(state);
    if (state.cert === serving) return;
    serving = state.cert;
    current = { cert: state.cert, key: state.key };
    if (started) options.onPair(current);
  };

  let current: ServingPair | undefined;
  let started = false;
  let busy: Promise<void> | undefined;
  const round = (force = false): Promise<void> => {
    busy ??= (async () => {
      try {
        if (options.leader.isLeader()) await lead(force);
        await sync();
      } catch (err) {
        if (!(err instanceof Superseded)) throw err;
      } finally {
        busy = undefined;
      }
    })();
    return busy;
  };
  const loop = (): void => {
    void round().catch((err: Error) => options.onError(new Error(`maintaining the TLS secret ${options.namespace}/${options.secretName} failed`, { cause: err })));
  };

  const deadline = Date.now() + (options.startTimeoutMs ?? 120_000);
  await options.leader.tick();
  for (;;) {
    await round().catch((err: Error) => options.onError(new Error(`reading the TLS secret ${options.namespace}/${options.secretName} failed`, { cause: err })));
    if (current) break;
    if (Date.now() > deadline) throw new Error(`no serving certificate in secret ${options.namespace}/${options.secretName} yet: is a replica leading lease ${options.secretName}?`);
    await new Promise((resolve) => setTimeout(resolve, Math.min(pollMs, 500)));
  }
  started = true;
  const timer = setInterval(loop, pollMs);
  timer.unref();
  const first = current as ServingPair;
  return {
    pair: first,
    bundle: () => bundle,
    async rotate() {
      if (!options.leader.isLeader()) throw new Error("only the replica holding the lease renews the certificate");
      await busy;
      await round(true);
    },
    stop() {
      clearInterval(timer);
    },
  };
}
