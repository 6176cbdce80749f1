/**
 * What the crash suites share: a seeded random source (the seed is printed, and
 * LATCHKEY_CRASH_SEED replays a run), and an audit of what a killed server left
 * in its SQLite file, read through the barrier while no server runs.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { createBarrier } from "../../src/storage/barrier.js";
import { createSealManager } from "../../src/core/seal/seal.js";
import { createSqliteStore } from "../../src/storage/sqlite.js";
import { queueKey, type StoredLease } from "../../src/core/leases/keys.js";
import type { TokenEntry } from "../../src/core/types.js";
import type { StorageView } from "../../src/storage/types.js";
import { api, autoSealConfig, startServerProcess, type ServerProcess } from "./process.js";

/** Lets a token create children: the parents of the crash suites' token trees. */
const CREATOR_POLICY = `path "auth/token/create" { capabilities = ["update"] }`;

/**
 * A built server on a fresh SQLite file with the auto seal, initialised, with
 * policy `creator`; `restart()` starts it again on the same file and
 * `audit()` checks what is stored there.
 */
export async function crashableServer(label: string): Promise<{
  server: ServerProcess;
  root: string;
  restart: () => Promise<ServerProcess>;
  audit: () => Promise<StoredState>;
}> {
  const dir = mkdtempSync(join(tmpdir(), `latchkey-${label}-`));
  const args = ["--config", autoSealConfig(dir)];
  const server = await startServerProcess(args);
  const init = await api(server.address, "PUT", "sys/init", undefined, { secret_shares: 1, secret_threshold: 1 });
  const root = init.json.root_token as string;
  const policy = await api(server.address, "PUT", "sys/policies/acl/creator", root, { policy: CREATOR_POLICY });
  if (init.status !== 200 || policy.status !== 204) throw new Error(`setting up the server failed: ${init.text} ${policy.text}`);
  return {
    server,
    root,
    restart: () => startServerProcess(args),
    audit: () => auditStoredState(join(dir, "latchkey.db"), join(dir, "unseal.key")),
  };
}

export interface SeededRandom {
  seed: number;
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [min, max]. */
  int(min: number, max: number): number;
  pick<T>(items: readonly T[]): T;
}

/** mulberry32: small, fast and good enough to choose kill points; the seed comes from LATCHKEY_CRASH_SEED or the clock. */
export function seededRandom(label: string): SeededRandom {
  const given = process.env.LATCHKEY_CRASH_SEED;
  const seed = given ? Number(given) >>> 0 : (Date.now() ^ (process.pid << 16)) >>> 0;
  console.log(`${label}: seed ${seed} (replay with LATCHKEY_CRASH_SEED=${seed})`);
  let state = seed;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    seed,
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    pick: (items) => items[Math.floor(next() * items.length)],
  };
}

export interface StoredState {
  tokens: TokenEntry[];
  leases: StoredLease[];
  /** Every breach of the token/lease invariants, as readable sentences; empty when the state is whole. */
  violations: string[];
}

async function scanAll(view: StorageView, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for (let after: string | undefined; ; ) {
    const keys = await view.scan(prefix, after, 1000);
    out.push(...keys);
    if (keys.length < 1000) return out;
    after = keys[keys.length - 1];
  }
}

/**
 * Copies the SQLite file of an auto-unsealed server (running or not) as one
 * consistent snapshot (`VACUUM INTO` reads in a single transaction), and checks that
 * tokens and leases agree: a service token with a TTL has its auth lease and
 * that lease names it; an auth lease's token exists; every queue key points at
 * a lease that is scheduled there and every lease is scheduled; every parent
 * link joins two existing tokens; every accessor index entry names a token.
 */
export async function auditStoredState(dbPath: string, keyFile: string): Promise<StoredState> {
  const dir = mkdtempSync(join(tmpdir(), "latchkey-audit-"));
  const snapshot = join(dir, "snapshot.db");
  const source = new Database(dbPath, { readonly: true, timeout: 5000 });
  try {
    source.prepare("VACUUM INTO ?").run(snapshot);
  } finally {
    source.close();
  }
  const physical = createSqliteStore(snapshot);
  try {
    const barrier = createBarrier(physical);
    const seal = createSealManager({ physical, barrier, seal: { type: "auto", keyFile }, storageType: "sqlite" });
    await seal.autoUnseal();
    const tokenView = barrier.view("sys/token/");
    const leaseView = barrier.view("sys/expire/");
    const tokens: TokenEntry[] = [];
    for (const key of await scanAll(tokenView, "id/")) tokens.push((await tokenView.getJSON<TokenEntry>(`id/${key}`))!);
    const leases: StoredLease[] = [];
    for (const id of await scanAll(leaseView, "id/")) leases.push((await leaseView.getJSON<StoredLease>(`id/${id}`))!);

    const violations: string[] = [];
    const tokenByKey = new Map(tokens.map((t) => [t.key, t]));
    const leaseById = new Map(leases.map((l) => [l.leaseId, l]));
    for (const token of tokens) {
      if (token.expireTime === 0) continue;
      const lease = token.leaseId === undefined ? undefined : leaseById.get(token.leaseId);
      if (!lease) violations.push(`token ${token.accessor} (${token.path}) has no auth lease`);
      else if (lease.authTokenKey !== token.key) violations.push(`lease ${lease.leaseId} does not name token ${token.accessor}`);
    }
    for (const lease of leases) {
      if (lease.kind === "auth" && (lease.authTokenKey === undefined || !tokenByKey.has(lease.authTokenKey))) {
        violations.push(`auth lease ${lease.leaseId} has no token`);
      }
    }
    const scheduled = new Set(leases.map(queueKey));
    for (const queue of ["exp/", "retry/"]) {
      for (const key of await scanAll(leaseView, queue)) {
        if (!scheduled.has(queue + key)) violations.push(`queue key ${queue}${key} schedules no lease`);
        scheduled.delete(queue + key);
      }
    }
    for (const key of scheduled) violations.push(`lease behind ${key} is not scheduled`);
    for (const link of await scanAll(tokenView, "parent/")) {
      const [parent, child] = link.split("/");
      if (!tokenByKey.has(parent) || !tokenByKey.has(child)) violations.push(`parent link ${link} joins a missing token`);
    }
    for (const key of await scanAll(tokenView, "accessor/")) {
      const indexed = await tokenView.getJSON<{ key: string }>(`accessor/${key}`);
      if (!indexed || !tokenByKey.has(indexed.key)) violations.push(`accessor index ${key} names a missing token`);
    }
    return { tokens, leases, violations };
  } finally {
    await physical.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
