import { randomUUID } from "node:crypto";
import type { Barrier } from "../../storage/barrier.js";
import { badRequest } from "../errors.js";
import { createKeyedLock } from "../keyed-lock.js";
import { rawJson } from "../envelope.js";
import { parseBool } from "../parse-bool.js";
import type { SealStatus } from "../seal/seal.js";
import type { FieldSchema, PathDef } from "../types.js";
import type { SysCore } from "./backend.js";
import { BUILD_DATE, VERSION } from "../version.js";

/** Vault's `cluster_name` when none is configured. */
const CLUSTER_NAME = "latchkey";

/** Vault's sys/health status codes and the query parameters that change them. */
const HEALTH_CODES = {
  activecode: 200,
  standbycode: 429,
  drsecondarycode: 472,
  performancestandbycode: 473,
  uninitcode: 501,
  sealedcode: 503,
};
type HealthCodes = typeof HEALTH_CODES;

const HEALTH_FIELDS: Record<string, FieldSchema> = {
  standbyok: { type: "string", description: "answer a standby with the active code (latchkey has no standbys)" },
  perfstandbyok: { type: "string", description: "answer a performance standby with the active code (latchkey has none)" },
  ...Object.fromEntries(
    Object.entries(HEALTH_CODES).map(([name, code]) => [
      name,
      { type: "string", description: `the status code for this state instead of ${code}` } satisfies FieldSchema,
    ]),
  ),
};

/** sys/health, sys/init, sys/unseal, sys/seal, sys/seal-status, sys/leader: the paths that work while sealed. */
export function sealPaths(core: SysCore): PathDef[] {
  // Unseal keys are taken one request at a time: two last shares arriving together
  // must not both combine the progress, nor start the unsealed services twice; and
  // none is taken while an init holds the barrier open for the moment it needs.
  const unsealing = createKeyedLock();
  const cluster = clusterIdentity(core.barrier);

  /** sys/seal-status and sys/unseal answer alike, with Vault's fields in Vault's order. */
  const sealStatusBody = async (status: SealStatus) => {
    const { build_date, migration, recovery_seal, storage_type, ...state } = status;
    return {
      ...state,
      build_date: build_date ?? BUILD_DATE,
      migration,
      cluster_name: CLUSTER_NAME,
      cluster_id: await cluster.id(),
      recovery_seal,
      storage_type,
    };
  };

  return [
    {
      pattern: "health",
      unauthenticated: true,
      fields: HEALTH_FIELDS,
      help: "The server's state for load balancers: the status code tells it; HEAD answers the code alone.",
      ops: {
        read: async (req) => {
          const codes = healthCodes(req.data);
          const initialized = await core.sealManager.isInitialized();
          const isSealed = core.isSealed();
          const status = !initialized ? codes.uninitcode : isSealed ? codes.sealedcode : codes.activecode;
          return rawJson(
            {
              initialized,
              sealed: isSealed,
              standby: false,
              performance_standby: false,
              replication_performance_mode: "disabled",
              replication_dr_mode: "disabled",
              server_time_utc: Math.floor(Date.now() / 1000),
              version: VERSION,
              enterprise: false,
              cluster_name: CLUSTER_NAME,
              cluster_id: await cluster.id(),
            },
            status,
          );
        },
      },
    },
    {
      pattern: "init",
      unauthenticated: true,
      fields: {
        secret_shares: { type: "int" },
        secret_threshold: { type: "int" },
      },
      ops: {
        read: async () => ({ raw: rawJson({ initialized: await core.sealManager.isInitialized() }).raw }),
        update: async (req) => {
          const auto = core.sealType === "auto";
          const secretShares = auto ? 1 : Number(req.data.secret_shares ?? 0);
          const secretThreshold = auto ? 1 : Number(req.data.secret_threshold ?? 0);
          if (!auto && (secretShares < 1 || secretThreshold < 1)) {
            throw badRequest("secret_shares and secret_threshold must be at least 1");
          }
          if (secretThreshold > secretShares) throw badRequest("secret_threshold cannot be larger than secret_shares");
          const { keys, rootToken } = await unsealing.run("unseal", async () => {
            // Initialising opens the barrier to write the root token and the cluster id.
            const made = await core.initialize({ secretShares, secretThreshold });
            await cluster.id();
            // As in Vault, a Shamir-sealed server is sealed again until the operator
            // submits the threshold of the keys it just handed out; the auto seal
            // unseals itself, so it stays open.
            if (!auto) await core.seal();
            return made;
          });
          return rawJson({
            keys: keys.map((k) => Buffer.from(k).toString("hex")),
            keys_base64: keys.map((k) => Buffer.from(k).toString("base64")),
            root_token: rootToken,
          });
        },
      },
    },
    {
      pattern: "unseal",
      unauthenticated: true,
      fields: { key: { type: "string" }, reset: { type: "bool" } },
      ops: {
        update: async (req) => {
          if (!(await core.sealManager.isInitialized())) throw badRequest("latchkey is not initialized");
          const reset = req.data.reset === true;
          const key = req.data.key as string | undefined;
          if (!reset && !key) throw badRequest('missing required field "key"');
          const status = await unsealing.run("unseal", async () => {
            const wasSealed = core.isSealed();
            const next = await core.sealManager.submitUnsealKey(key ?? "", { reset });
            if (wasSealed && !next.sealed) await core.unsealed();
            return next;
          });
          return rawJson(await sealStatusBody(status));
        },
      },
    },
    {
      pattern: "seal",
      sudo: true,
      ops: {
        update: async () => {
          await core.seal();
          return {};
        },
      },
    },
    {
      pattern: "seal-status",
      unauthenticated: true,
      ops: { read: async () => rawJson(await sealStatusBody(await core.sealManager.status())) },
    },
    {
      pattern: "leader",
      unauthenticated: true,
      ops: {
        read: async () =>
          rawJson({
            ha_enabled: core.ha.leadership.haEnabled,
            is_self: core.ha.leadership.isLeader(),
            leader_address: core.ha.leadership.haEnabled ? await core.ha.leaderAddress() : "",
            leader_cluster_address: "",
            performance_standby: false,
          }),
      },
    },
  ];
}

/** Checks Vault's sys/health query parameters and returns the codes to answer with. */
function healthCodes(query: Record<string, unknown>): HealthCodes {
  // latchkey has no standbys: the flags are checked, as Vault checks them, and change nothing.
  for (const flag of ["standbyok", "perfstandbyok"]) {
    const value = query[flag];
    if (typeof value === "string" && value !== "") parseBool(value, `query parameter "${flag}"`);
  }
  const codes = { ...HEALTH_CODES };
  for (const name of Object.keys(codes) as (keyof HealthCodes)[]) {
    const value = query[name];
    if (value !== undefined) codes[name] = statusCode(value, name);
  }
  return codes;
}

/**
 * A status code a load balancer can read. 1xx codes are informational: a
 * client would take one as "more to come" and wait for the real answer.
 */
function statusCode(value: unknown, name: string): number {
  const code = typeof value === "string" && /^\d{1,4}$/.test(value) ? Number(value) : NaN;
  if (!(code >= 200 && code <= 599)) throw badRequest(`query parameter "${name}" must be an HTTP status code from 200 to 599`);
  return code;
}

/** Where the cluster id lives: under the barrier, next to the root token's keys. */
const CLUSTER_KEY = "cluster";

/**
 * Vault's `cluster_id`: a UUID made once per initialised store, when it is
 * first wanted while unsealed, and kept in memory so that it is still
 * reported after a seal. A server restarted sealed reports "" until unsealed,
 * as Vault reports no cluster while sealed.
 */
function clusterIdentity(barrier: Pick<Barrier, "isSealed" | "view">) {
  let known = "";
  return {
    async id(): Promise<string> {
      if (known || barrier.isSealed()) return known;
      try {
        // One transaction, so that servers sharing a database agree on one id.
        known = await barrier.view("core/").transaction(async (tx) => {
          const stored = await tx.getJSON<{ id: string }>(CLUSTER_KEY);
          if (stored) return stored.id;
          const id = randomUUID();
          await tx.putJSON(CLUSTER_KEY, { id });
          return id;
        });
      } catch (err) {
        // Sealed while reading: the id is simply not known yet.
        if (!barrier.isSealed()) throw err;
      }
      return known;
    },
  };
}

