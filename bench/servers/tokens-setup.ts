// Set-up process of tokens-1m: `node tokens-setup.js <dataDir> <total> <expiring> <result.json>`.
//
// Writes `total` live service tokens, each with its auth lease, into the
// SQLite store of `<dataDir>` through latchkey's own core from dist/ (the
// barrier, the token store and the lease manager), so the records are exactly
// those `latchkey server` writes for a Kubernetes login; only the SQLite commits are
// grouped (see batching-store.ts). The last `expiring` tokens get TTLs that
// make their leases come due together, in one second, a few seconds after the
// set-up ends; the rest live for 24 hours.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { createCore as CreateCore } from "../../src/core/core.js";
import type { Logger } from "../../src/core/types.js";
import type { createSqliteStore as CreateSqliteStore } from "../../src/storage/sqlite.js";
import type { BACKENDS as Backends } from "../../src/server/main.js";
import { REPO } from "../lib/processes.js";
import { createBatchingStore } from "./batching-store.js";

export interface TokensSetupResult {
  rootToken: string;
  created: number;
  seconds: number;
  /** Unix ms: the expiring leases are due in [dueFromMs, dueToMs). */
  dueFromMs: number;
  dueToMs: number;
}

const [dataDir, totalArg, expiringArg, resultFile] = process.argv.slice(2);
const total = Number(totalArg);
const expiring = Number(expiringArg);

const dist = (path: string) => pathToFileURL(join(REPO, "dist", path)).href;
const { createCore } = (await import(dist("core/core.js"))) as { createCore: typeof CreateCore };
const { createSqliteStore } = (await import(dist("storage/sqlite.js"))) as { createSqliteStore: typeof CreateSqliteStore };
const { BACKENDS } = (await import(dist("server/main.js"))) as { BACKENDS: typeof Backends };

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };
const physical = createBatchingStore(createSqliteStore(join(dataDir, "latchkey.db")));
const core = createCore({
  physical,
  seal: { type: "auto", keyFile: join(dataDir, "unseal.key") },
  storageType: "sqlite",
  logger: quiet,
  backends: BACKENDS,
  // This process must never revoke anything: the server under test does.
  leaseTickMs: 24 * 3600 * 1000,
});
// What `PUT sys/init` does with the auto seal.
const { rootToken } = await core.initialize({ secretShares: 1, secretThreshold: 1 });
const { tokens } = core.services;

/** What the core's login path hands the token store for a Kubernetes login (core.ts, issueLoginToken). */
async function login(i: number, ttl: number): Promise<void> {
  const namespace = `team-${i % 200}`;
  const serviceAccount = `app-${i % 5000}`;
  await tokens.create({
    policies: ["app", "default"],
    metadata: {
      role: "app",
      service_account_name: serviceAccount,
      service_account_namespace: namespace,
      service_account_uid: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
      service_account_secret_name: "",
    },
    ttl,
    renewable: true,
    noParent: true,
    displayName: `kubernetes-${namespace}-${serviceAccount}`,
    path: "auth/kubernetes/login",
  });
}

const started = Date.now();
const longLived = total - expiring;
for (let i = 0; i < longLived; i++) {
  await login(i, 24 * 3600);
  if (i > 0 && i % 100_000 === 0) process.stdout.write(`${i} tokens, ${Math.round(i / ((Date.now() - started) / 1000))}/s\n`);
}
await physical.flush();

// Due once the rest is written and the server has started: the set-up's own rate tells how long writing takes.
const perToken = longLived > 0 ? (Date.now() - started) / longLived : 0.1;
const dueFromMs = Math.ceil((Date.now() + perToken * expiring * 1.5 + 15_000) / 1000) * 1000;
for (let i = longLived; i < total; i++) {
  const ttl = Math.ceil((dueFromMs - Date.now()) / 1000);
  if (ttl < 2) throw new Error("set-up too slow: the expiring tokens would be due before the server starts");
  await login(i, ttl);
}
await core.close();

const result: TokensSetupResult = {
  rootToken,
  created: total,
  seconds: (Date.now() - started) / 1000,
  dueFromMs,
  dueToMs: dueFromMs + 1000,
};
writeFileSync(resultFile, JSON.stringify(result));
