import type { Backend, BackendContext, BackendFactory, Handler, Operation, PathDef } from "../../core/types.js";
import { createClusterRegistry } from "./clusters.js";
import { createKubeConnector } from "./kube-cluster.js";
import { createLocalServiceAccountFiles, type LocalServiceAccountFiles } from "./local-files.js";
import { accessIdPaths } from "./path-access-id.js";
import { configPaths } from "./path-config.js";
import { createLoginObjects, type LoginObjects } from "./object-cache.js";
import { loginPath } from "./path-login.js";
import { rolePaths } from "./path-role.js";
import type { ClusterConnector } from "./types.js";

export interface KubernetesBackendOptions {
  /** Talks to clusters; tests pass fakes. Default: the kube client, with the reviewer identity order of Vault. */
  connector?: ClusterConnector;
  /** The server's own service-account files; default from the mount options or the standard paths. */
  localFiles?: LocalServiceAccountFiles;
  /** Milliseconds. */
  now?: () => number;
  /** For the in-cluster default of `kubernetes_host`. */
  env?: Record<string, string | undefined>;
}

/**
 * The `kubernetes` auth method. Mount options `service_account_token_path`
 * and `service_account_ca_path` move the local token and CA files (tests, or
 * a non-standard mount); only an operator who may enable auth methods sets them.
 */
export function createKubernetesBackend(ctx: BackendContext, opts: KubernetesBackendOptions = {}): Backend {
  const now = opts.now ?? Date.now;
  const local =
    opts.localFiles ??
    createLocalServiceAccountFiles({
      tokenPath: ctx.config.options.service_account_token_path || undefined,
      caPath: ctx.config.options.service_account_ca_path || undefined,
      now,
    });
  const connector = opts.connector ?? createKubeConnector({ local, logger: ctx.logger, now });
  const clusters = createClusterRegistry(connector, now, ctx.logger);
  const objects = createLoginObjects({ enabled: ctx.sharedStorage !== true });
  return {
    paths: [
      ...[
        ...configPaths({ env: opts.env ?? process.env, onChange: (name) => clusters.forget(name) }),
        ...rolePaths(),
        ...accessIdPaths({ now }),
      ].map((def) => invalidatingWrites(def, objects)),
      loginPath({ clusters, objects, now, logger: ctx.logger }),
    ],
    stop: () => clusters.closeAll(),
  };
}

const READS: ReadonlySet<Operation> = new Set(["read", "list"]);

/** Every write through a path drops what logins keep, before it starts and after it ends (committed or not). */
function invalidatingWrites(def: PathDef, objects: LoginObjects): PathDef {
  const ops: PathDef["ops"] = {};
  for (const [operation, handler] of Object.entries(def.ops) as [Operation, Handler][]) {
    ops[operation] = READS.has(operation)
      ? handler
      : async (req) => {
          objects.changing();
          try {
            return await handler(req);
          } finally {
            objects.changing();
          }
        };
  }
  return { ...def, ops };
}

/** Registered by the core as the `kubernetes` auth method type. */
export const kubernetesBackendFactory: BackendFactory = (ctx) => createKubernetesBackend(ctx);
