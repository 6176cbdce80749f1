import type { KubeClient } from "../../kube/client.js";
import type { PolicyRule } from "../../kube/types.js";

/** How a target authenticates to its API server. */
export type TargetCredential = "service_account_jwt" | "gateway_service_account" | "client_certificate";

/**
 * A cluster connection (`config` is the default target, `targets/<name>` the
 * others), stored in the mount's barrier-encrypted view. `serviceAccountJwt`
 * and `clientKey` are never rendered on read.
 */
export interface Target {
  kubernetesHost: string;
  /** PEM; "" = the gateway's own `ca.crt` in gateway mode, else the system's CAs. */
  kubernetesCaCert: string;
  credential: TargetCredential;
  serviceAccountJwt: string;
  clientCert: string;
  clientKey: string;
}

/** What a role hands out: a token for an existing account, or a temporary account bound to a role. */
export type RoleMode = "fixed" | "predefined" | "generated";

export type KubeRoleKind = "Role" | "ClusterRole";

/** A role (`roles/<name>`). */
export interface EngineRole {
  mode: RoleMode;
  /** Fixed mode. */
  serviceAccountName: string;
  /** Predefined mode. */
  kubernetesRoleName: string;
  /** The kind of the predefined or generated role. */
  kubernetesRoleType: KubeRoleKind;
  /** Generated mode: the rules exactly as written (JSON or YAML), and as parsed at write time. */
  generatedRoleRules: string;
  rules: PolicyRule[];
  /** A Role/ClusterRole + binding document (reference 001), read into the mode, kind, rules and binding kind above. */
  roleBindingYaml: string;
  /** Bind cluster-wide even when the request does not ask for it (a ClusterRoleBinding in `roleBindingYaml`). */
  clusterRoleBinding: boolean;
  /** Exact names, or `["*"]` for any. */
  allowedKubernetesNamespaces: string[];
  /** A label selector (JSON or YAML, as written); a namespace whose labels match is allowed too. "" = none. */
  allowedKubernetesNamespaceSelector: string;
  /** "" = the mount's `config`. */
  target: string;
  /** Seconds; 0 = the mount's default. */
  tokenDefaultTtl: number;
  /** Seconds; 0 = the mount's maximum. */
  tokenMaxTtl: number;
  tokenDefaultAudiences: string[];
  extraLabels: Record<string, string>;
  extraAnnotations: Record<string, string>;
  /** "" = `latchkey-{{role}}-{{random}}`. */
  nameTemplate: string;
  /** Credentials whose objects are kept made ahead, per namespace (prepared.ts); 0 or absent = none. */
  preparedCredentials?: number;
}

export type ObjectKind = "ServiceAccount" | "Secret" | "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding" | "Namespace" | "CertificateSigningRequest";

/** An object latchkey created for a lease; cluster-scoped kinds have no namespace. */
export interface ObjectRef {
  kind: ObjectKind;
  name: string;
  namespace?: string;
}

/** Kept with the lease and handed back on revoke: what to delete, through which target. */
export interface LeaseInternal {
  /** The id of the lease's intent record and the value of its `latchkey.io/lease` label. */
  ref: string;
  role: string;
  target: string;
  objects: ObjectRef[];
}

/**
 * Written before any object is created (`intent/<ref>`), so a crash at any
 * point leaves a record of what may exist; deleted once the objects are gone.
 */
export interface IntentRecord extends LeaseInternal {
  /**
   * `pending` while the request that creates the objects runs; `issued` once
   * it answered (the core then stores the lease); `revoking` once a
   * revocation has begun deleting them.
   */
  state: "pending" | "issued" | "revoking";
  /** Unix seconds. */
  createdAt: number;
  /** Unix seconds after which the lease has ended, whatever happened to it. */
  expiresAt: number;
  /** The boot id of the server process that last wrote the intent (absent in intents of older versions). */
  writer?: string;
  /** Unix seconds at which the state became `issued`. */
  issuedAt?: number;
  /** The mount's path when the intent was written: a remount since then moves the lease to another id. */
  mountPath?: string;
  /** The reconciler has found the intent's lease stored: it need not look again. */
  leaseSeen?: true;
}

/** The part of the kube client the engine uses; tests pass a fake. */
export type ClusterApi = Pick<KubeClient, "host" | "get" | "create" | "delete" | "createTokenRequest" | "getNamespace">;

/** Connections to targets, one pooled client per target, rebuilt when the target changes. */
export interface TargetClients {
  clientFor(name: string, target: Target): Promise<ClusterApi>;
}
