import type { Registry } from "prom-client";
import type { StorageView } from "../storage/types.js";
import type { WrapInfo } from "./wrapping.js";
import type { InvalidationBus } from "./invalidation.js";

/** The operations of Vault's logical API; `create` vs `update` is decided by the core (does the path exist?). */
export type Operation = "read" | "create" | "update" | "delete" | "list" | "patch";

/** Vault ACL capabilities. */
export type Capability = "create" | "read" | "update" | "patch" | "delete" | "list" | "sudo" | "deny";

export type TokenType = "service" | "batch";

/** A token as the core knows it after lookup. `id` is never stored; only its keyed hash is. */
export interface TokenEntry {
  /** Opaque key under which the token is stored (keyed hash of its id); for batch tokens, derived from the id. */
  key: string;
  accessor: string;
  type: TokenType;
  policies: string[];
  metadata: Record<string, string>;
  /** Path that created it, e.g. `auth/token/create`, `auth/kubernetes/login`. */
  path: string;
  displayName: string;
  /** Unix seconds. */
  creationTime: number;
  /** Unix seconds; 0 = never expires (root tokens). */
  expireTime: number;
  /** Seconds from creation that the token may never outlive; 0 = none. */
  explicitMaxTtl: number;
  /** Seconds requested as TTL at creation (and renewal increment default). */
  ttl: number;
  /** Periodic tokens renew to this many seconds forever; 0 = not periodic. */
  period: number;
  renewable: boolean;
  /** Uses left; 0 = unlimited. */
  numUses: number;
  /** Key of the parent token; absent for orphans. */
  parentKey?: string;
  orphan: boolean;
  boundCidrs?: string[];
  entityId?: string;
  /** Id of the auth lease that expires this token (service tokens with a TTL). */
  leaseId?: string;
  /** Uuid of the mount that issued it: refused once that mount is gone or re-created. */
  mountUuid?: string;
  /** The token role it was created through (`auth/token/create/<role>`); shown by lookup. */
  role?: string;
}

export interface LeaseEntry {
  /** `<mount path><path>/<random id>`, e.g. `kubernetes/creds/demo/Ab12...`. */
  leaseId: string;
  /** Mount path (with trailing `/`) whose backend revokes/renews the secret; for tokens `auth/token/`. */
  mountPath: string;
  /** Path of the request that created the secret, relative to the mount. */
  path: string;
  kind: "secret" | "auth";
  /** Unix seconds. */
  issueTime: number;
  expireTime: number;
  lastRenewalTime?: number;
  /** Seconds. */
  ttl: number;
  /** Unix seconds after which it cannot be renewed; 0 = none. */
  maxExpireTime: number;
  renewable: boolean;
  /** Key of the token that created this lease (its leases are revoked with it). */
  tokenKey?: string;
  /** Key of the batch token the secret was issued to (batch tokens revoke nothing, so it is no `tokenKey`); sys/leases shows the lease to it. */
  batchTokenKey?: string;
  /** Backend data kept with the lease and handed back on revoke/renew. Encrypted at rest like everything else. */
  internal: Record<string, unknown>;
  /** For auth leases: the key of the token this lease governs. */
  authTokenKey?: string;
}

export interface SecretResponse {
  ttl: number;
  maxTtl?: number;
  renewable: boolean;
  internal: Record<string, unknown>;
  /** The backend's writes that must commit with the lease, or not at all. */
  commit?: LeaseCommit;
}

/**
 * A backend's part of the transaction that stores a lease: `write` runs in it
 * on the mount's view (throwing aborts the lease too), and `settled` follows
 * once the transaction has committed, or failed with `err`.
 */
export interface LeaseCommit {
  write(tx: StorageView): Promise<void>;
  settled(err?: unknown): Promise<void>;
}

export interface AuthResponse {
  policies: string[];
  metadata: Record<string, string>;
  ttl: number;
  maxTtl?: number;
  period?: number;
  explicitMaxTtl?: number;
  numUses?: number;
  renewable: boolean;
  tokenType?: TokenType;
  noDefaultPolicy?: boolean;
  boundCidrs?: string[];
  displayName?: string;
  alias?: { name: string; metadata: Record<string, string> };
}

/**
 * Where a call that leaves the process reads its abort signal: a request whose
 * `signal` is made when first read (the server's client-gone signal), so that
 * work that never calls out never makes one.
 */
export interface SignalSource {
  readonly signal?: AbortSignal | undefined;
}

export interface LogicalRequest {
  operation: Operation;
  /** Relative to the mount. */
  path: string;
  /** Path parameters from the pattern (`role/:name` → `{name}`; `data/*path` → `{path}`). */
  params: Record<string, string>;
  /** Body (or query for reads/lists), checked against the path's schema. */
  data: Record<string, unknown>;
  /** Absent on unauthenticated paths. */
  auth?: TokenEntry;
  /** The caller's policies grant `sudo` on this path (root tokens always do). */
  sudo?: boolean;
  /** Seconds, when the client asked for the response to be wrapped (`X-Vault-Wrap-TTL`). */
  wrapTtl?: number;
  /** The raw client token; only present for paths that declare `needsClientToken` (auth/token/*). Never log it. */
  clientToken?: string;
  mountPath: string;
  connection: { remoteAddress: string };
  storage: StorageView;
  requestId: string;
  signal?: AbortSignal;
}

export interface LogicalResponse {
  data?: Record<string, unknown>;
  warnings?: string[];
  secret?: SecretResponse;
  auth?: AuthResponse;
  /** A body that bypasses the envelope (sys/health, sys/metrics). */
  raw?: { contentType: string; body: string | Buffer; status?: number };
  /** sys/wrapping/rewrap: a wrapping token answered as the envelope's `wrap_info`. */
  wrapInfo?: WrapInfo;
  /** sys/leases/renew: an existing lease echoed in the envelope's lease fields. */
  leaseInfo?: { leaseId: string; renewable: boolean; ttl: number };
  /** Status override; default 200 (204 when empty). */
  status?: number;
}

export type FieldType = "string" | "int" | "bool" | "duration" | "string_list" | "map" | "object" | "any";

export interface FieldSchema {
  type: FieldType;
  description?: string;
  required?: boolean;
  default?: unknown;
}

export type Handler = (req: LogicalRequest) => Promise<LogicalResponse | undefined>;

export interface PathDef {
  /** Segments; `:name` matches one segment, `*name` (last only) the rest, possibly with slashes. */
  pattern: string;
  fields?: Record<string, FieldSchema>;
  /** Skip token lookup and ACL (login paths). */
  unauthenticated?: boolean;
  /** Sudo capability is required in addition to the operation's. */
  sudo?: boolean;
  /** Handler receives `clientToken` (token self-operations). */
  needsClientToken?: boolean;
  /**
   * Does the object exist? Decides `create` vs `update` for a write, as Vault's
   * ExistenceCheck does. Without it a write is `update`.
   */
  exists?: (req: LogicalRequest) => Promise<boolean>;
  ops: Partial<Record<Operation, Handler>>;
  help?: string;
}

export interface BackendContext {
  storage: StorageView;
  mountPath: string;
  /** Mount-level config: the default and max lease TTLs in force (seconds; the system's where the mount sets none), its options. */
  config: { defaultLeaseTtl: number; maxLeaseTtl: number; options: Record<string, string> };
  logger: Logger;
  /** The core's Prometheus registry, served at sys/metrics: where a backend registers its own metrics. */
  metrics?: Registry;
  /** Whether this replica runs the once-only periodic work (reconcilers); absent means always. */
  isLeader?: () => boolean;
  /**
   * The mount's own leases, read only: a backend whose handler answered with a
   * secret can tell whether the core stored its lease (a crash in between leaves none).
   */
  leases?: MountLeases;
  /** Whether other server processes (HA replicas) share this storage; absent means none do. */
  sharedStorage?: boolean;
  /** The core's invalidation bus, for a backend that caches what it stores; its subscriptions end when the core seals. */
  invalidations?: InvalidationBus;
}

/** Read-only access to the leases of one mount. */
export interface MountLeases {
  /** Full ids of the mount's leases directly under `path` (relative to the mount, e.g. `creds/app`). */
  list(path: string): Promise<string[]>;
  /** A lease of this mount; undefined when it is not stored or belongs to another mount. */
  lookup(leaseId: string): Promise<LeaseEntry | undefined>;
}

export interface Backend {
  paths: PathDef[];
  revoke?(lease: LeaseEntry, storage: StorageView): Promise<void>;
  renew?(lease: LeaseEntry, storage: StorageView): Promise<{ ttl: number }>;
  start?(ctx: BackendContext): Promise<void>;
  stop?(): Promise<void>;
}

export type BackendFactory = (ctx: BackendContext) => Backend | Promise<Backend>;

/** The subset of pino's logger latchkey uses; keeps modules testable with a fake. */
export interface Logger {
  debug(obj: object | string, msg?: string): void;
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
}

export interface LeaseRegistration {
  mountPath: string;
  path: string;
  kind: "secret" | "auth";
  /** Seconds from now. */
  ttl: number;
  /** Unix seconds after which renewals stop; 0 = none. */
  maxExpireTime?: number;
  renewable: boolean;
  tokenKey?: string;
  batchTokenKey?: string;
  authTokenKey?: string;
  internal?: Record<string, unknown>;
  /** Explicit lease id (auth leases use `auth/token/create/<token key>`-style ids); generated when absent. */
  leaseId?: string;
  /**
   * The explicit id is new (derived from a value generated for this lease), so
   * no previous lease under it is looked for. The registration then only
   * writes, and on PostgreSQL a write-only transaction never fails to
   * serialise against concurrent logins.
   */
  freshId?: boolean;
}

/**
 * The expiration manager. Leases are stored with an index that sorts by expiry
 * so a tick reads only what is due; failed revocations are retried with backoff
 * and never dropped; all state lives in storage and survives restarts.
 */
export interface LeaseManager {
  /**
   * Stores a new lease. With `within` (a transaction over the manager's storage),
   * its writes join that transaction, so a token and its lease commit together.
   */
  register(reg: LeaseRegistration, within?: StorageView): Promise<LeaseEntry>;
  lookup(leaseId: string): Promise<LeaseEntry | undefined>;
  /** Renews a secret lease through its backend's `renew`, capped by maxExpireTime. */
  renew(leaseId: string, incrementSeconds?: number): Promise<LeaseEntry>;
  /** Moves the expiry of a lease (token renewals); capped by maxExpireTime. */
  setExpiry(leaseId: string, expireTime: number): Promise<void>;
  /** Revokes now: calls the revoker, then forgets the lease. Throws if the revoker fails. */
  revoke(leaseId: string): Promise<void>;
  /**
   * Forgets the lease without calling the revoker (the thing it governs is already
   * gone); with `within`, as part of that transaction (see `register`).
   */
  forget(leaseId: string, within?: StorageView): Promise<void>;
  /**
   * Forgets every auth lease whose token `tokenExists` no longer finds, a page
   * at a time: a leftover of a crash between the two commits that older
   * versions used for a token and its lease.
   */
  forgetOrphanedAuthLeases(tokenExists: (tokenKey: string) => Promise<boolean>): Promise<number>;
  revokePrefix(prefix: string, opts?: { force?: boolean }): Promise<number>;
  /** Revokes every lease created by the token with this key. */
  revokeByToken(tokenKey: string): Promise<number>;
  /** Lease ids directly under a prefix, Vault list semantics (for sys/leases/lookup). */
  list(prefix: string): Promise<string[]>;
  start(): void;
  stop(): Promise<void>;
}
