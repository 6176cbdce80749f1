// Set-up processes of tokens-1m: `tokens-setup.js init|fill <dataDir> ...` (the two modes are below).
//
// `init` initialises the SQLite store of <dataDir> with the auto seal; then
// one `fill` process per core writes its share of the live service tokens,
// each with its auth lease, through latchkey's own core from dist/ (barrier,
// token store, lease manager), so the records are exactly those
// `latchkey server` writes for Kubernetes logins; only the way the rows reach
// the SQLite file differs (a sorted bulk insert: bulk-load-store.ts). Tokens
// numbered below `expiring` get a one-second TTL: by the time the server
// starts, their leases are all due at once, as after an outage or a restart.
// The rest live for 24 hours, and their token ids derive from the secret seed
// the environment hands it (bench/lib/live-tokens.ts), so that the scenario can
// present them afterwards without any process writing tokens to a file.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { createCore as CreateCore } from "../../src/core/core.js";
import type { Logger } from "../../src/core/types.js";
import type { createSqliteStore as CreateSqliteStore } from "../../src/storage/sqlite.js";
import type { BACKENDS as Backends } from "../../src/server/main.js";
import { liveTokenId, TOKEN_SEED_ENV } from "../lib/live-tokens.js";
import { REPO } from "../lib/processes.js";
import { createBulkLoadStore } from "./bulk-load-store.js";

/** What one `fill` process reports. */
export interface TokensFillResult {
  created: number;
  seconds: number;
  /** Unix ms: the expiring leases it wrote fell due in [dueFromMs, dueToMs), before the set-up ended; null if it wrote none. */
  dueFromMs: number | null;
  dueToMs: number | null;
}

const [mode, dataDir, ...rest] = process.argv.slice(2);

const dist = (path: string) => pathToFileURL(join(REPO, "dist", path)).href;
const { createCore } = (await import(dist("core/core.js"))) as { createCore: typeof CreateCore };
const { createSqliteStore } = (await import(dist("storage/sqlite.js"))) as { createSqliteStore: typeof CreateSqliteStore };
const { BACKENDS } = (await import(dist("server/main.js"))) as { BACKENDS: typeof Backends };

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };
const dbPath = join(dataDir, "latchkey.db");
const bulk = createBulkLoadStore(createSqliteStore(dbPath), dbPath);
const core = createCore({
  physical: bulk.store,
  seal: { type: "auto", keyFile: join(dataDir, "unseal.key") },
  storageType: "sqlite",
  logger: quiet,
  backends: BACKENDS,
  // Set-up processes must never revoke anything: the server under test does.
  leaseTickMs: 24 * 3600 * 1000,
});

if (mode === "init") {
  // `tokens-setup.js init <dataDir> <result.json>`: what `PUT sys/init` does with the auto seal.
  const { rootToken } = await core.initialize({ secretShares: 1, secretThreshold: 1 });
  await core.close();
  writeFileSync(rest[0], JSON.stringify({ rootToken }));
} else {
  // `tokens-setup.js fill <dataDir> <from> <to> <expiring> <result.json>`: tokens number from..to-1;
  // those below `expiring` get the one-second TTL. Several fill processes run side by side.
  const [from, to, expiring] = rest.slice(0, 3).map(Number);
  await core.sealManager.autoUnseal();
  await core.unsealed();
  writeFileSync(rest[3], JSON.stringify(await fill(from, to, expiring)));
  await core.close();
}

/** What the core's login path hands the token store for a Kubernetes login (core.ts, issueLoginToken). */
async function login(i: number, ttl: number, id?: string): Promise<void> {
  const namespace = `team-${i % 200}`;
  const serviceAccount = `app-${i % 5000}`;
  await core.services.tokens.create({
    id,
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

async function fill(from: number, to: number, expiring: number): Promise<TokensFillResult> {
  const started = Date.now();
  bulk.startBulk();
  let dueFromMs: number | null = null;
  let dueToMs: number | null = null;
  for (let i = from; i < Math.min(to, expiring); i++) {
    dueFromMs ??= Date.now() + 1000;
    await login(i, 1);
    dueToMs = Date.now() + 1001;
  }
  const seed = process.env[TOKEN_SEED_ENV];
  if (!seed) throw new Error(`${TOKEN_SEED_ENV} is not set`);
  for (let i = Math.max(from, expiring); i < to; i++) {
    await login(i, 24 * 3600, liveTokenId(seed, i));
    if ((i - from) % 100_000 === 0 && i > from) process.stdout.write(`${i - from} tokens, ${Math.round((i - from) / ((Date.now() - started) / 1000))}/s\n`);
  }
  // The staged rows go into the kv table.
  await bulk.finish();
  return { created: to - from, seconds: (Date.now() - started) / 1000, dueFromMs, dueToMs };
}
