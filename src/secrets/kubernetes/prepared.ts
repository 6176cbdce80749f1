import type { Logger } from "../../core/types.js";
import type { ClusterApi, ObjectRef } from "./types.js";

/** A role keeps at most this many credentials prepared per namespace. */
export const MAX_PREPARED = 8;
/** A prepared credential not taken within this long is deleted (well inside the reconciler's grace for `pending`). */
export const PREPARED_MAX_AGE_MS = 60_000;
/** After a failed preparation, a key is left unprepared this long: issues take the ordinary path meanwhile. */
const RETRY_AFTER_FAILURE_MS = 30_000;
/** However many roles and namespaces are in use, no more than this many are kept in the whole mount. */
const MAX_TOTAL = 256;

/**
 * The objects of one credential made before it is asked for: its intent is
 * stored (`pending`, this process's, its ref in `issuing`) and its objects
 * exist (the bound Secret in fixed mode; the ServiceAccount, the generated
 * role and the binding in dynamic mode). The request that takes it makes only
 * what depends on the request: the TokenRequest.
 */
export interface Prepared {
  ref: string;
  /** The generated name the credential's objects share. */
  name: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** Everything the credential will have made, as its intent records. */
  objects: ObjectRef[];
  /** The target's name. */
  target: string;
  /** Fixed mode: the uid of the Secret the token is bound to. */
  secretUid?: string;
  /** The role as it was when the objects were made: a role written since then must not get them. */
  snapshot: string;
  /** The client the objects were made through: a target changed since then rebuilds it. */
  api: ClusterApi;
  /** Milliseconds. */
  madeAt: number;
}

export interface PreparedPoolDeps {
  logger: Logger;
  /** Milliseconds. */
  now: () => number;
  /** Deletes a credential's objects and intent, and lets its ref go from `issuing`; never throws. */
  discard: (prepared: Prepared) => Promise<void>;
}

/**
 * Credentials made ahead, per role, namespace and binding kind (`key`). A
 * key is filled only after an issue for it, up to the role's
 * `prepared_credentials`; what is not taken within PREPARED_MAX_AGE_MS is
 * deleted. Everything here is this process's alone: replicas keep their own,
 * and should the process die, the reconciler deletes its `pending` intents
 * and their objects like those of any request cut short.
 */
export function createPreparedPool(deps: PreparedPoolDeps) {
  const ready = new Map<string, Prepared[]>();
  const making = new Map<string, number>();
  const failedAt = new Map<string, number>();
  let total = 0;
  let closed = false;

  const fresh = (p: Prepared) => deps.now() - p.madeAt < PREPARED_MAX_AGE_MS;
  const drop = (p: Prepared) => {
    total--;
    void deps.discard(p);
  };

  return {
    /** A prepared credential for `key`, made under the same role and client, or undefined. */
    take(key: string, snapshot: string, api: ClusterApi): Prepared | undefined {
      const list = ready.get(key);
      while (list && list.length > 0) {
        const p = list.shift() as Prepared;
        if (list.length === 0) ready.delete(key);
        if (fresh(p) && p.snapshot === snapshot && p.api === api) {
          total--;
          return p;
        }
        drop(p);
      }
      return undefined;
    },

    /** Starts making credentials for `key` until `size` are ready or being made. */
    fill(key: string, size: number, make: () => Promise<Prepared>): void {
      if (closed) return;
      const failed = failedAt.get(key);
      if (failed !== undefined && deps.now() - failed < RETRY_AFTER_FAILURE_MS) return;
      failedAt.delete(key);
      let wanted = Math.min(size, MAX_PREPARED) - (ready.get(key)?.length ?? 0) - (making.get(key) ?? 0);
      while (wanted-- > 0 && total < MAX_TOTAL) {
        total++;
        making.set(key, (making.get(key) ?? 0) + 1);
        make().then(
          (p) => {
            if (closed) return drop(p);
            const list = ready.get(key);
            if (list) list.push(p);
            else ready.set(key, [p]);
          },
          (err: unknown) => {
            total--;
            failedAt.set(key, deps.now());
            deps.logger.warn({ cause: err instanceof Error ? err.message : String(err) }, "could not prepare kubernetes credentials; issuing without for a while");
          },
        ).finally(() => {
          const left = (making.get(key) ?? 1) - 1;
          if (left === 0) making.delete(key);
          else making.set(key, left);
        });
      }
    },

    /** Deletes what has waited too long. */
    sweep(): void {
      for (const [key, list] of ready) {
        const kept = list.filter(fresh);
        for (const p of list) if (!kept.includes(p)) drop(p);
        if (kept.length === 0) ready.delete(key);
        else ready.set(key, kept);
      }
    },

    /** Deletes everything prepared; what is still being made is deleted once it is. */
    async close(): Promise<void> {
      closed = true;
      const all = [...ready.values()].flat();
      ready.clear();
      total -= all.length;
      await Promise.all(all.map(deps.discard));
    },

    /** For tests and metrics: how many are ready for `key`. */
    readyFor: (key: string) => ready.get(key)?.length ?? 0,
  };
}

export type PreparedPool = ReturnType<typeof createPreparedPool>;
