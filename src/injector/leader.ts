/**
 * Leadership among injector replicas through a `coordination.k8s.io/v1` Lease,
 * with client-go's leader-election rules: a holder counts as alive while the
 * lease record keeps changing within `leaseDurationSeconds` of this replica's
 * own clock (no trust in other clocks), every write carries the resourceVersion
 * it read (a 409 means someone else won), and a leader that cannot renew
 * within the renew deadline stops acting as leader before its lease can lapse.
 */
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { isAlreadyExists, isNotFound, KubeApiError } from "../kube/errors.js";
import type { KubeClient } from "../kube/client.js";

export interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

interface Lease {
  metadata: { name: string; namespace?: string; resourceVersion?: string };
  spec?: LeaseSpec;
}

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  /** Default: the pod's name (HOSTNAME) and a random suffix, so a restarted pod is a new candidate. */
  identity?: string;
  /** How long a silent holder keeps the lease. Default 15 s. */
  leaseDurationMs?: number;
  /** How often to try to acquire or renew. Default a fifth of the lease duration. */
  retryPeriodMs?: number;
  onError?: (err: Error) => void;
}

export interface LeaderElector {
  readonly identity: string;
  /** True only while a renewal succeeded within the renew deadline (two thirds of the lease duration). */
  isLeader(): boolean;
  /** One acquire-or-renew round now; resolves to isLeader(). */
  tick(): Promise<boolean>;
  /** Stops the loop and, if leading, hands the lease back (holder cleared) so another replica takes over at once. */
  stop(): Promise<void>;
}

const leasePath = (namespace: string, name?: string): string =>
  `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases${name ? `/${encodeURIComponent(name)}` : ""}`;

/** Lease times are MicroTime: RFC 3339 with exactly six fractional digits. */
export function microTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

/** Starts competing for the lease at once and every retry period. */
export function startLeaderElection(kube: KubeClient, options: LeaderElectionOptions): LeaderElector {
  const identity = options.identity ?? `${process.env.HOSTNAME || hostname()}_${randomBytes(4).toString("hex")}`;
  const durationMs = options.leaseDurationMs ?? 15_000;
  const renewDeadlineMs = (durationMs * 2) / 3;
  const retryMs = options.retryPeriodMs ?? Math.max(200, durationMs / 5);
  const path = leasePath(options.namespace, options.name);
  let renewedAt = -Infinity;
  // The last record seen and when this replica saw it change: the holder's liveness, by our own clock.
  let observed: { key: string; at: number } | undefined;
  let stopped = false;
  let round: Promise<boolean> | undefined;

  const spec = (previous: LeaseSpec | undefined, now: Date): LeaseSpec => {
    const ours = previous?.holderIdentity === identity;
    return {
      holderIdentity: identity,
      leaseDurationSeconds: Math.ceil(durationMs / 1000),
      acquireTime: ours && previous?.acquireTime ? previous.acquireTime : microTime(now),
      renewTime: microTime(now),
      leaseTransitions: (previous?.leaseTransitions ?? 0) + (ours || !previous?.holderIdentity ? 0 : 1),
    };
  };

  const attempt = async (): Promise<boolean> => {
    const now = new Date();
    let lease: Lease;
    try {
      lease = await kube.get<Lease>(path);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      try {
        await kube.create(leasePath(options.namespace), {
          apiVersion: "coordination.k8s.io/v1",
          kind: "Lease",
          metadata: { name: options.name, namespace: options.namespace },
          spec: spec(undefined, now),
        });
      } catch (createErr) {
        if (isAlreadyExists(createErr)) return false;
        throw createErr;
      }
      renewedAt = Date.now();
      return true;
    }
    const current = lease.spec ?? {};
    const key = `${lease.metadata.resourceVersion}|${current.holderIdentity ?? ""}|${current.renewTime ?? ""}`;
    if (observed?.key !== key) observed = { key, at: Date.now() };
    const held = current.holderIdentity !== undefined && current.holderIdentity !== "";
    const lapsesAt = observed.at + (current.leaseDurationSeconds ?? durationMs / 1000) * 1000;
    if (held && current.holderIdentity !== identity && Date.now() < lapsesAt) return false;
    try {
      await kube.request("PUT", path, { ...lease, spec: spec(current, now) });
    } catch (err) {
      // Someone else wrote the lease since we read it: they won this round.
      if (err instanceof KubeApiError && err.status === 409) return false;
      throw err;
    }
    renewedAt = Date.now();
    return true;
  };

  const isLeader = (): boolean => !stopped && Date.now() - renewedAt < renewDeadlineMs;
  const tick = (): Promise<boolean> => {
    round ??= attempt()
      .catch((err: Error) => {
        options.onError?.(new Error(`leader election on lease ${options.namespace}/${options.name} failed`, { cause: err }));
        return false;
      })
      .then(() => isLeader())
      .finally(() => {
        round = undefined;
      });
    return round;
  };

  const timer = setInterval(() => void tick(), retryMs);
  timer.unref();
  void tick();

  return {
    identity,
    isLeader,
    tick,
    async stop() {
      const wasLeader = isLeader();
      stopped = true;
      clearInterval(timer);
      await round?.catch(() => undefined);
      if (!wasLeader) return;
      // client-go's ReleaseOnCancel: clear the holder so a candidate need not wait out the lease.
      try {
        const lease = await kube.get<Lease>(path);
        if (lease.spec?.holderIdentity !== identity) return;
        await kube.request("PUT", path, { ...lease, spec: { ...lease.spec, holderIdentity: "", leaseDurationSeconds: 1, renewTime: microTime(new Date()) } });
      } catch (err) {
        options.onError?.(new Error(`releasing lease ${options.namespace}/${options.name} failed`, { cause: err }));
      }
    },
  };
}
