import { badRequest } from "../errors.js";
import { createKeyedLock } from "../keyed-lock.js";
import { rawJson } from "../envelope.js";
import type { PathDef } from "../types.js";
import type { SysCore } from "./backend.js";
import { VERSION } from "../version.js";

/** sys/health, sys/init, sys/unseal, sys/seal, sys/seal-status, sys/leader: the paths that work while sealed. */
export function sealPaths(core: SysCore): PathDef[] {
  // Unseal keys are taken one request at a time: two last shares arriving together
  // must not both combine the progress, nor start the unsealed services twice.
  const unsealing = createKeyedLock();
  return [
    {
      pattern: "health",
      unauthenticated: true,
      ops: {
        read: async () => {
          const initialized = await core.sealManager.isInitialized();
          const isSealed = core.isSealed();
          const status = !initialized ? 501 : isSealed ? 503 : 200;
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
              cluster_name: "latchkey",
              cluster_id: "",
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
          const { keys, rootToken } = await core.initialize({ secretShares, secretThreshold });
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
          return rawJson(status);
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
      ops: { read: async () => rawJson(await core.sealManager.status()) },
    },
    {
      pattern: "leader",
      unauthenticated: true,
      ops: {
        read: async () =>
          rawJson({ ha_enabled: false, is_self: true, leader_address: "", leader_cluster_address: "", performance_standby: false }),
      },
    },
  ];
}
