import { createSecretKey, hash, type KeyObject } from "node:crypto";
import type { StorageView } from "../../storage/types.js";
import { badRequest, permissionDenied } from "../errors.js";
import { LocalInvalidationBus, type InvalidationBus } from "../invalidation.js";
import type { LeaseManager, TokenEntry } from "../types.js";
import { DEFAULT_CACHE_ENTRIES, TokenCache, type TokenCacheOptions } from "./cache.js";
import { BATCH_PREFIX, newAccessor, newServiceToken, openBatch, sealBatch, tokenKey, type BatchKey } from "./crypto.js";
import { policyNames } from "./policies.js";
import type { CreateTokenParams, TokenAuthResult, TokenStore } from "./types.js";

export type { CreateTokenParams, TokenAuthResult, TokenStore } from "./types.js";

/** Vault's system default lease TTL and max TTL: 768h (32 days). */
export const DEFAULT_TOKEN_TTL = 768 * 3600;
export const MAX_TOKEN_TTL = 768 * 3600;

export interface TokenStoreDeps {
  storage: StorageView;
  /** Key of the keyed hash that token ids are stored under. */
  hmacKey: Uint8Array;
  /** The barrier's current batch-token key; a batch token sealed under an older term no longer opens. */
  batchKey: () => { term: number; key: Uint8Array };
  leases: Pick<LeaseManager, "register" | "setExpiry" | "forget" | "revokeByToken">;
  /**
   * One transaction over this store's storage and the lease manager's, so that a
   * token and its auth lease are written and deleted together.
   */
  transaction<T>(fn: (tokens: StorageView, leases: StorageView) => Promise<T>): Promise<T>;
  /** Seconds; the max lease TTL of the mount that owns a creating path (a tuned `max_lease_ttl`). */
  mountMaxTtl?: (path: string) => number;
  /** The uuid of the mount that owns a path now, if any: a token outlives neither its mount nor a re-created one. */
  mountUuid?: (path: string) => string | undefined;
  /**
   * Runs for each revoked token after its leases and before its entry goes, so
   * a failure leaves a token that can be revoked again (the cubbyhole's clear).
   */
  onRevoke?: (tokenKey: string) => Promise<void>;
  /** Milliseconds since the epoch. */
  now?: () => number;
  /** Seconds; TTL of a token created without one (root tokens excepted). */
  defaultTtl?: number;
  /** Seconds; no non-periodic token lives longer than this after creation. */
  maxTtl?: number;
  /**
   * The seam every change to a token goes through: the store publishes a
   * `token` invalidation for each entry it changes or deletes, and drops its
   * cached entries for every invalidation it receives, local or remote.
   */
  invalidations?: InvalidationBus;
  /** Bounds of the cache of resolved token entries. */
  cache?: TokenCacheOptions;
}

/**
 * `numUses` of a token whose revocation has begun (Vault's "tainted" state):
 * it no longer authenticates and cannot parent new tokens, while its subtree
 * and leases are being revoked.
 */
const REVOKING = -1;
const PAGE = 1000;
const ACCESSOR_PATTERN = /^[0-9A-Za-z]+$/;
const idKey = (key: string) => `id/${key}`;
/** Accessors are not stored in plaintext either: the index is keyed by a keyed hash of the accessor. */
const accessorKey = (hashed: string) => `accessor/${hashed}`;
/** Entries written before the accessor index was hashed. */
const legacyAccessorKey = (accessor: string) => `accessor/${accessor}`;
const childKey = (parentKey: string, key: string) => `parent/${parentKey}/${key}`;
/**
 * A revocation that has begun and not finished: written with the token's taint,
 * deleted with the token, so that a server killed half-way through a tree finishes
 * it after the restart instead of leaving a tainted root above live children.
 */
const revokingKey = (key: string) => `revoking/${key}`;
interface PendingRevocation {
  /** revoke-orphan: the children are orphaned, not revoked. */
  orphan?: boolean;
}

/**
 * The token store. Storage layout under its view:
 * `id/<key>` → TokenEntry, `accessor/<accessor>` → {key},
 * `parent/<parent key>/<child key>` → {} (so a tree can be walked without
 * scanning every token). `key` is HMAC-SHA256(hmacKey, token) in hex.
 */
export function createTokenStore(deps: TokenStoreDeps): TokenStore {
  const { storage, leases } = deps;
  const clock = deps.now ?? Date.now;
  const defaultTtl = deps.defaultTtl ?? DEFAULT_TOKEN_TTL;
  const maxTtl = deps.maxTtl ?? MAX_TOKEN_TTL;
  const nowSeconds = () => Math.floor(clock() / 1000);
  const keyOf = (token: string) => tokenKey(deps.hmacKey, token);
  const hashAccessor = (accessor: string) => tokenKey(deps.hmacKey, `accessor\0${accessor}`);
  const limitFor = (path: string) => Math.min(maxTtl, deps.mountMaxTtl?.(path) || maxTtl);
  const bus = deps.invalidations ?? new LocalInvalidationBus();
  const cache = new TokenCache({ now: clock, ...deps.cache });
  let generation = 0;
  /**
   * The keyed hash of each token that resolved lately, by the token's unkeyed
   * SHA-256: that costs a fraction of the HMAC, and it tells no more than the
   * HMAC key and keyed hashes already in memory beside it. The token itself is
   * never kept; at most as many digests as the cache has entries, oldest out first.
   */
  const keysByDigest = new Map<string, string>();
  const maxDigests = deps.cache?.maxEntries ?? DEFAULT_CACHE_ENTRIES;
  bus.subscribe((ev) => {
    generation++;
    if (ev.kind === "token") cache.delete(ev.id);
    // A removed or re-created mount ends its tokens; a new keyring or a missed message may change anything.
    else if (ev.kind === "mounts" || ev.kind === "keyring" || ev.kind === "all") {
      cache.clear();
      keysByDigest.clear();
    }
  });

  /** A service token's entry; its keyed hash comes from the digest map once the token has resolved. */
  async function lookupServiceToken(token: string): Promise<TokenEntry | undefined> {
    const digest = hash("sha256", token, "base64");
    const known = keysByDigest.get(digest);
    if (known !== undefined) return lookupByKey(known);
    const key = keyOf(token);
    const entry = await lookupByKey(key);
    if (entry && maxDigests > 0) {
      const oldest = keysByDigest.keys().next();
      if (keysByDigest.size >= maxDigests && !oldest.done) keysByDigest.delete(oldest.value);
      keysByDigest.set(digest, key);
    }
    return entry;
  }

  /**
   * The barrier's batch key as a KeyObject, made once per key: importing the
   * raw key into OpenSSL on every seal and open cost more than the encryption.
   */
  const batchKeyObjects = new Map<number, { raw: Buffer; object: KeyObject }>();
  function currentBatchKey(): BatchKey {
    const { term, key } = deps.batchKey();
    let known = batchKeyObjects.get(term);
    if (!known || !known.raw.equals(key)) {
      known = { raw: Buffer.from(key), object: createSecretKey(key) };
      batchKeyObjects.set(term, known);
    }
    return { term, key: known.object };
  }

  /** Called after every committed change to a token entry, so no cache serves the old one. */
  // Awaited where the change takes authority away (a use, a revocation): the call must not
  // return while another replica could still serve the old entry from its cache.
  const changed = (key: string) => bus.publish({ kind: "token", id: key });

  const expired = (entry: TokenEntry) => entry.expireTime !== 0 && entry.expireTime <= nowSeconds();

  /** The entry if it still authenticates: not expired, not being revoked, its issuing mount still there. */
  function live(entry: TokenEntry | undefined): TokenEntry | undefined {
    if (!entry || entry.numUses < 0) return undefined;
    if (expired(entry)) return undefined;
    if (entry.mountUuid !== undefined && deps.mountUuid && deps.mountUuid(entry.path) !== entry.mountUuid) return undefined;
    return entry;
  }

  /**
   * The hot path. A cached entry is checked by `live` like a stored one, so it
   * stops at its own expiry; use-limited tokens are never cached, so every use
   * of one is counted in a storage transaction.
   */
  async function lookupByKey(key: string): Promise<TokenEntry | undefined> {
    const cached = cache.get(key);
    if (cached) return live(cached);
    const epoch = generation;
    const entry = live(await storage.getJSON<TokenEntry>(idKey(key)));
    // An invalidation delivered while the read was in flight may have been for this entry: then it is not cached.
    if (entry && entry.numUses === 0 && epoch === generation) cache.set(key, entry);
    return entry;
  }

  async function create(params: CreateTokenParams): Promise<{ token: string; entry: TokenEntry }> {
    const { parent } = params;
    const type = params.type ?? "service";
    if (parent?.type === "batch") throw badRequest("batch tokens cannot create more tokens");
    const policies = policySet(params, parent);
    const isRoot = policies.includes("root");
    // Vault: no token outlives the max TTL of the mount that issues it (`sys/auth/<path>/tune`).
    const limit = limitFor(params.path);
    const explicitMaxTtl = Math.min(nonNegativeInt(params.explicitMaxTtl, "explicit_max_ttl"), limit);
    const period = Math.min(nonNegativeInt(params.period, "period"), limit);
    const numUses = nonNegativeInt(params.numUses, "num_uses");
    if (type === "batch") {
      if (isRoot) throw badRequest("batch tokens cannot be root tokens");
      if (period > 0) throw badRequest("batch tokens cannot be periodic");
      if (numUses > 0) throw badRequest("batch tokens cannot have a limited number of uses");
    }

    // Vault: a periodic token's TTL is its period; otherwise the requested TTL
    // within the system max; root service tokens without a TTL never expire.
    const requestedTtl = nonNegativeInt(params.ttl, "ttl") || (isRoot && type === "service" ? 0 : defaultTtl);
    let ttl = period || Math.min(requestedTtl, limit);
    if (explicitMaxTtl > 0 && (ttl === 0 || ttl > explicitMaxTtl)) ttl = explicitMaxTtl;

    const now = nowSeconds();
    const parentKey = parent && !params.noParent ? parent.key : undefined;
    const entry: TokenEntry = {
      key: "",
      accessor: "",
      type,
      policies,
      metadata: { ...params.metadata },
      path: params.path,
      displayName: params.displayName ?? "token",
      creationTime: now,
      expireTime: ttl > 0 ? now + ttl : 0,
      explicitMaxTtl,
      ttl,
      period,
      renewable: type === "service" && ttl > 0 && params.renewable !== false,
      numUses,
      orphan: parentKey === undefined,
      ...(parentKey !== undefined && { parentKey }),
      ...(params.boundCidrs?.length && { boundCidrs: [...params.boundCidrs] }),
      ...(params.role !== undefined && { role: params.role }),
    };
    const mountUuid = deps.mountUuid?.(params.path);
    if (mountUuid !== undefined) entry.mountUuid = mountUuid;

    if (type === "batch") {
      const { key: _key, ...payload } = entry;
      const token = sealBatch(currentBatchKey(), Buffer.from(JSON.stringify(payload)));
      return { token, entry: { ...entry, key: keyOf(token) } };
    }

    const token = params.id ?? newServiceToken();
    if (params.id !== undefined && (params.id === "" || params.id.startsWith(BATCH_PREFIX) || /\s/.test(params.id))) {
      throw badRequest(`field "id" must be a non-empty string without spaces that does not start with "${BATCH_PREFIX}"`);
    }
    entry.key = keyOf(token);
    entry.accessor = newAccessor();
    await deps.transaction(async (tx, leaseTx) => {
      if (params.id !== undefined && (await tx.get(idKey(entry.key)))) throw badRequest("token already exists");
      // Re-read the parent inside the transaction: a child must not outlive a parent revoked meanwhile.
      if (parentKey !== undefined && !live(await tx.getJSON<TokenEntry>(idKey(parentKey)))) throw permissionDenied();
      if (ttl > 0) {
        const maxExpireTime = explicitMaxTtl > 0 ? now + explicitMaxTtl : period > 0 ? 0 : now + limit;
        const lease = await leases.register(
          {
            kind: "auth",
            mountPath: "auth/token/",
            path: "create",
            // Vault's lease ids for tokens: the creating path plus the token's key,
            // so `revoke-prefix auth/kubernetes/` revokes every login of that mount.
            leaseId: `${params.path}/${entry.key}`,
            // A generated token's key is new; an explicit id may have left a lease behind.
            freshId: params.id === undefined,
            ttl,
            maxExpireTime,
            renewable: entry.renewable,
            authTokenKey: entry.key,
            // No tokenKey: the parent's leases are revoked with the parent, and a
            // child must survive that when it is orphaned (revoke-orphan). The
            // parent index, not the lease owner, ties children to parents.
          },
          leaseTx,
        );
        entry.leaseId = lease.leaseId;
      }
      await tx.putJSON(idKey(entry.key), entry);
      await tx.putJSON(accessorKey(hashAccessor(entry.accessor)), { key: entry.key, accessor: entry.accessor });
      if (parentKey !== undefined) await tx.putJSON(childKey(parentKey, entry.key), {});
    });
    // No cache holds a generated key yet (misses are not cached): only an explicit id, which may
    // have been in use before, is announced. On PostgreSQL that saves every login a NOTIFY.
    if (params.id !== undefined) await changed(entry.key);
    return { token, entry };
  }

  /** Policies sorted and deduplicated; the creating rule (`policyRule`) against the parent; `default` added as Vault does. */
  function policySet(params: CreateTokenParams, parent: TokenEntry | undefined): string[] {
    const rule = params.policyRule ?? "subset";
    const requested = policyNames(params.policies).filter((p) => !(params.noDefaultPolicy && p === "default"));
    const parentIsRoot = parent?.policies.includes("root") ?? false;
    if (parent && !parentIsRoot) {
      if (rule === "subset" && requested.some((p) => !parent.policies.includes(p))) {
        throw badRequest("child policies must be subset of parent");
      }
      // Vault: sudo on the creating path must not be a way to become root.
      if (requested.includes("root")) throw badRequest("root tokens may not be created without parent token being root");
    }
    // A child gets `default` only if its parent could have given it, or the caller holds sudo.
    const mayAddDefault = rule === "sudo" || !parent || parentIsRoot || parent.policies.includes("default");
    const addDefault = rule !== "exact" && !params.noDefaultPolicy && mayAddDefault;
    if (addDefault && !requested.includes("root") && !requested.includes("default")) requested.push("default");
    if (requested.length === 0) throw badRequest("token must have at least one policy");
    return requested.sort();
  }

  async function lookupBatch(token: string): Promise<TokenEntry> {
    const payload = openBatch(currentBatchKey(), token);
    if (!payload) throw permissionDenied();
    // The payload is the entry less its key; the key is set on the parsed object
    // itself (a spread that adds a property is slow on Node 20).
    const entry = JSON.parse(new TextDecoder().decode(payload)) as TokenEntry;
    entry.key = keyOf(token);
    if (!live(entry)) throw permissionDenied();
    // Vault: a batch token with a parent dies with it.
    if (entry.parentKey !== undefined && !(await lookupByKey(entry.parentKey))) throw permissionDenied();
    return entry;
  }

  async function use(entry: TokenEntry): Promise<TokenEntry> {
    if (entry.type === "batch" || entry.numUses === 0) return entry;
    const updated = await storage.transaction(async (tx) => {
      const current = live(await tx.getJSON<TokenEntry>(idKey(entry.key)));
      if (!current) throw permissionDenied();
      const next = { ...current, numUses: current.numUses === 1 ? REVOKING : current.numUses - 1 };
      await tx.putJSON(idKey(entry.key), next);
      if (next.numUses === REVOKING) await tx.putJSON(revokingKey(entry.key), {} satisfies PendingRevocation);
      return next;
    });
    await changed(entry.key);
    // Vault: the last use still succeeds; the token is gone for the next request.
    if (updated.numUses === REVOKING) await revokeTree(entry.key);
    return updated;
  }

  async function renew(entry: TokenEntry, increment = 0): Promise<TokenEntry> {
    if (!entry.renewable || entry.type === "batch") throw badRequest("token is not renewable");
    const renewed = await storage.transaction(async (tx) => {
      const current = live(await tx.getJSON<TokenEntry>(idKey(entry.key)));
      if (!current) throw permissionDenied();
      if (!current.renewable || !current.leaseId) throw badRequest("token is not renewable");
      const next = { ...current, expireTime: renewedExpiry(current, increment, nowSeconds(), limitFor(current.path)) };
      await tx.putJSON(idKey(entry.key), next);
      return next;
    });
    await changed(entry.key);
    if (renewed.leaseId) await leases.setExpiry(renewed.leaseId, renewed.expireTime);
    return renewed;
  }

  /**
   * Marks a token as being revoked so it stops authenticating and parenting before
   * its subtree is gone, and records the revocation as pending (see revokingKey).
   */
  async function markRevoking(key: string, pending: PendingRevocation) {
    // Expiry is final (`renew` and `use` refuse an expired token), so the committed entry decides it without a transaction.
    if (!pending.orphan && expiredWithLease(await storage.getJSON<TokenEntry>(idKey(key)))) return;
    await storage.transaction(async (tx) => {
      const entry = await tx.getJSON<TokenEntry>(idKey(key));
      if (!entry) return;
      if (entry.numUses !== REVOKING) await tx.putJSON(idKey(key), { ...entry, numUses: REVOKING });
      await tx.putJSON(revokingKey(key), pending);
    });
    await changed(key);
  }

  /**
   * An expired token needs no mark before its tree is revoked (the common case: a
   * login whose lease ran out): it already neither authenticates nor parents
   * (`live`), and its auth lease, forgotten only in the transaction that deletes
   * the token itself, brings a revocation that a crash cut short back at the
   * lease manager's next tick. An orphaning revocation is always marked: its
   * lease would resume it as a tree revocation.
   */
  function expiredWithLease(entry: TokenEntry | undefined): boolean {
    return entry !== undefined && entry.leaseId !== undefined && expired(entry);
  }

  /** Revokes one token whose children are already gone: its leases first, then the token with its auth lease. */
  async function revokeOne(key: string, parentHint?: string) {
    await leases.revokeByToken(key);
    await deps.onRevoke?.(key);
    await deps.transaction(async (tx, leaseTx) => {
      const found = await tx.getJSON<TokenEntry>(idKey(key));
      await tx.delete(idKey(key));
      if (found) {
        await tx.delete(accessorKey(hashAccessor(found.accessor)));
        await tx.delete(legacyAccessorKey(found.accessor));
      }
      if (found?.parentKey !== undefined) await tx.delete(childKey(found.parentKey, key));
      if (parentHint !== undefined) await tx.delete(childKey(parentHint, key));
      await tx.delete(revokingKey(key));
      if (found?.leaseId) await leases.forget(found.leaseId, leaseTx);
    });
    await changed(key);
  }

  // Depth first, children before their parent, so that a crash half-way never
  // leaves a live child whose parent link is already gone.
  async function revokeTree(rootKey: string): Promise<void> {
    await markRevoking(rootKey, {});
    const stack: Array<{ key: string; parentKey?: string }> = [{ key: rootKey }];
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      const children = await storage.list(`parent/${top.key}/`, undefined, PAGE);
      if (children.length > 0) {
        for (const child of children) stack.push({ key: child, parentKey: top.key });
        continue;
      }
      stack.pop();
      await revokeOne(top.key, top.parentKey);
    }
  }

  async function revokeOrphan(key: string): Promise<void> {
    await markRevoking(key, { orphan: true });
    for (;;) {
      const children = await storage.list(`parent/${key}/`, undefined, PAGE);
      if (children.length === 0) break;
      await storage.transaction(async (tx) => {
        for (const child of children) {
          const entry = await tx.getJSON<TokenEntry>(idKey(child));
          if (entry) {
            const { parentKey: _parent, ...rest } = entry;
            await tx.putJSON(idKey(child), { ...rest, orphan: true });
          }
          await tx.delete(childKey(key, child));
        }
      });
      // An orphaned child no longer dies with its parent: its cached entry must not keep the parent link.
      await Promise.all(children.map((child) => changed(child)));
    }
    await revokeOne(key);
  }

  /** Finishes every revocation a previous run began and did not end; returns how many it found. */
  async function resumeRevocations(): Promise<number> {
    let resumed = 0;
    for (;;) {
      // Each finished revocation deletes its key, so the first page is always what is left.
      const keys = await storage.list("revoking/", undefined, PAGE);
      if (keys.length === 0) return resumed;
      for (const key of keys) {
        const pending = await storage.getJSON<PendingRevocation>(revokingKey(key));
        if (pending?.orphan) await revokeOrphan(key);
        else await revokeTree(key);
        resumed++;
      }
    }
  }

  async function keyForAccessor(accessor: string): Promise<string | undefined> {
    if (!ACCESSOR_PATTERN.test(accessor)) return undefined;
    const indexed =
      (await storage.getJSON<{ key: string }>(accessorKey(hashAccessor(accessor)))) ??
      (await storage.getJSON<{ key: string }>(legacyAccessorKey(accessor)));
    return indexed?.key;
  }

  /** The accessors of every stored token: from the index values (hashed keys) or the keys (older entries). */
  async function listAccessors(): Promise<string[]> {
    const out: string[] = [];
    let after: string | undefined;
    for (;;) {
      const keys = await storage.list("accessor/", after, PAGE);
      for (const key of keys) {
        const indexed = await storage.getJSON<{ accessor?: string }>(`accessor/${key}`);
        out.push(indexed?.accessor ?? key);
      }
      if (keys.length < PAGE) return out.sort();
      after = keys[keys.length - 1];
    }
  }

  return {
    create,
    async lookup(token) {
      if (token.startsWith(BATCH_PREFIX)) return lookupBatch(token);
      return lookupServiceToken(token);
    },
    use,
    async lookupByAccessor(accessor) {
      const key = await keyForAccessor(accessor);
      return key === undefined ? undefined : lookupByKey(key);
    },
    lookupByKey,
    renew,
    revokeTree,
    revokeOrphan,
    async revokeAccessor(accessor) {
      const key = await keyForAccessor(accessor);
      if (key === undefined) return false;
      await revokeTree(key);
      return true;
    },
    listAccessors,
    resumeRevocations,
    keyOf,
    hashAccessor,
    async exists(key) {
      return (await storage.get(idKey(key))) !== undefined;
    },
    nowSeconds,
  };
}

/**
 * Vault's renewal rule: a periodic token goes back to its full period; any
 * other token gets `increment` (default: its original TTL) from now, never
 * past creation + explicit max TTL or creation + the system max TTL.
 */
function renewedExpiry(entry: TokenEntry, increment: number, now: number, maxTtl: number): number {
  // A mount's max TTL tuned down after creation applies from the next renewal on.
  const limits: number[] = [];
  if (entry.explicitMaxTtl > 0) limits.push(entry.creationTime + entry.explicitMaxTtl);
  if (entry.period > 0) return Math.min(now + entry.period, ...limits);
  limits.push(entry.creationTime + maxTtl);
  return Math.min(now + (increment || entry.ttl), ...limits);
}

/** A count or number of seconds from a caller: absent is 0; otherwise a safe non-negative integer, or 400 naming the field. */
export function nonNegativeInt(value: unknown, field: string): number {
  if (value === undefined || value === null) return 0;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw badRequest(`field "${field}" must be a non-negative integer`);
  }
  return value;
}

/** The `auth` block Vault returns for a token: create, login and renew responses. */
export function toAuthResult(token: string, entry: TokenEntry, nowSeconds = Math.floor(Date.now() / 1000)): TokenAuthResult {
  return {
    client_token: token,
    accessor: entry.accessor,
    policies: [...entry.policies],
    token_policies: [...entry.policies],
    metadata: Object.keys(entry.metadata).length > 0 ? { ...entry.metadata } : null,
    lease_duration: remainingTtl(entry, nowSeconds),
    renewable: entry.renewable,
    entity_id: entry.entityId ?? "",
    token_type: entry.type,
    orphan: entry.orphan,
    num_uses: Math.max(0, entry.numUses),
  };
}

/** Seconds a token has left; 0 for tokens that never expire. */
export function remainingTtl(entry: TokenEntry, nowSeconds: number): number {
  return entry.expireTime === 0 ? 0 : Math.max(0, entry.expireTime - nowSeconds);
}
