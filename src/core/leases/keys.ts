import { createHash } from "node:crypto";
import { publicRandomBytes } from "../random-pool.js";
import type { LeaseEntry } from "../types.js";

/**
 * Storage layout of the expiration manager, inside the view it is given:
 *
 *   id/<leaseId>                          → the lease (StoredLease JSON)
 *   exp/<13-digit expire ms>/<hash>       → leaseId   (sorted by expiry: a tick reads only what is due)
 *   retry/<13-digit next-attempt ms>/<hash> → RetryRecord (failed revocations, never dropped)
 *   tok/<tokenKey>/<hash>                 → leaseId   (revokeByToken)
 *
 * `<hash>` is a digest of the lease id so that index keys have a fixed shape
 * whatever the lease id contains (lease ids have `/` in them).
 */
export const ENTRY_PREFIX = "id/";
export const EXPIRY_QUEUE = "exp/";
export const RETRY_QUEUE = "retry/";
export const TOKEN_PREFIX = "tok/";

/** A failed revocation waiting for its next attempt. */
export interface RetryState {
  /** Unix ms of the next attempt. */
  at: number;
  attempts: number;
}

export interface RetryRecord {
  leaseId: string;
  attempts: number;
}

/** What is stored under `id/`: the lease plus, while a revocation is pending, where its retry key is. */
export interface StoredLease extends LeaseEntry {
  retry?: RetryState;
  /** A replica revoking this lease now: no other one revokes it before `until` (Unix ms). */
  claim?: { by: string; until: number };
}

const TIME_DIGITS = 13;

/** Zero-padded so that byte order of the keys is time order (good until the year 2286). */
export const timeSegment = (ms: number) => String(Math.max(0, Math.round(ms))).padStart(TIME_DIGITS, "0");

/** The due time of a key relative to its queue (`<13 digits>/<hash>`), as its padded segment. */
export const dueSegment = (queueKey: string) => queueKey.slice(0, TIME_DIGITS);

export const leaseHash = (leaseId: string) => createHash("sha256").update(leaseId).digest("hex").slice(0, 32);

export const entryKey = (leaseId: string) => ENTRY_PREFIX + leaseId;

export const tokenIndexPrefix = (tokenKey: string) => `${TOKEN_PREFIX}${tokenKey}/`;

/** Expiry of a lease in Unix ms; entries carry seconds (possibly fractional). */
export const expireMs = (lease: Pick<LeaseEntry, "expireTime">) => Math.round(lease.expireTime * 1000);

/** The queue key (`exp/…` or `retry/…`) that currently schedules this lease. */
export function queueKey(lease: StoredLease): string {
  return lease.retry
    ? `${RETRY_QUEUE}${timeSegment(lease.retry.at)}/${leaseHash(lease.leaseId)}`
    : `${EXPIRY_QUEUE}${timeSegment(expireMs(lease))}/${leaseHash(lease.leaseId)}`;
}

/** Every index key pointing at this lease; derived from the entry, so deleting needs no extra read. */
export function indexKeys(lease: StoredLease): string[] {
  const keys = [queueKey(lease)];
  if (lease.tokenKey) keys.push(tokenIndexPrefix(lease.tokenKey) + leaseHash(lease.leaseId));
  return keys;
}

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/** Uniform base62 string; bytes ≥ 248 are rejected so that `% 62` has no bias. */
export function randomBase62(length: number): string {
  let out = "";
  while (out.length < length) {
    for (const byte of publicRandomBytes(length * 2)) {
      if (byte >= 248) continue;
      out += BASE62[byte % 62];
      if (out.length === length) break;
    }
  }
  return out;
}

/** `<mountPath><path>/<random>`, Vault's lease id shape (`kubernetes/creds/demo/Ab12…`). */
export function newLeaseId(mountPath: string, path: string): string {
  const base = mountPath + path.replace(/^\/+|\/+$/g, "");
  return `${base === "" || base.endsWith("/") ? base : base + "/"}${randomBase62(24)}`;
}

const RETRY_BASE_MS = 1000;
export const RETRY_MAX_MS = 10 * 60 * 1000;

/**
 * Delay before attempt `attempts + 1` of a failed revocation: 1 s doubling,
 * capped at 10 min, ±20 % jitter so that a backend coming back is not hit by
 * every pending revocation in the same tick.
 */
export function retryDelayMs(attempts: number, random: () => number = Math.random): number {
  const base = Math.min(RETRY_BASE_MS * 2 ** Math.max(0, attempts - 1), RETRY_MAX_MS);
  return Math.min(RETRY_MAX_MS, Math.round(base * (0.8 + 0.4 * random())));
}
