import { randomBytes, randomUUID } from "node:crypto";
import { createBarrier } from "../storage/barrier.js";
import type { PhysicalStore } from "../storage/types.js";
import { createAuditTable } from "./audit-table.js";
import { createAuditBroker } from "./audit/broker.js";
import { badRequest, LatchkeyError, notFound, permissionDenied, sealed, unsupportedOperation } from "./errors.js";
import { envelope, type Envelope } from "./envelope.js";
import { coerceFields } from "./fields.js";
import { alwaysLeader, whileLeader, type Leadership } from "./ha/leadership.js";
import { createLeaseManager } from "./leases/manager.js";
import { createMetrics } from "./metrics.js";
import { createMountTable, effectiveLeaseTtls, storagePrefix, SYSTEM_LEASE_TTL, type BackendRegistry } from "./mounts.js";
import { LocalInvalidationBus, type InvalidationBus } from "./invalidation.js";
import { cidrAllows } from "./net.js";
import { parseBool } from "./parse-bool.js";
import { createPolicyStore } from "./policy/store.js";
import { createRouter, operationFor, type MountedBackend, type RouteMatch } from "./router.js";
import { createSealManager, type SealOptions } from "./seal/seal.js";
import { createSysBackend } from "./sys/backend.js";
import { createQuotaStore } from "./sys/quotas.js";
import { policyNames } from "./tokens/policies.js";
import { createTokenStore, toAuthResult, type TokenStore } from "./tokens/store.js";
import { clearCubbyhole } from "../secrets/cubbyhole/index.js";
import { createWrapping, invalidWrappingToken, parseWrapTtl, type WrapInfo } from "./wrapping.js";
import type { TokenAuthResult } from "./tokens/types.js";
import type { StorageView } from "../storage/types.js";
import type { LeaseEntry, LeaseManager, LeaseRegistration, Logger, LogicalRequest, LogicalResponse, Operation, TokenEntry } from "./types.js";
import type { AuditRequest, AuditResponse } from "./audit/types.js";


export interface CoreOptions {
  physical: PhysicalStore;
  seal: SealOptions;
  storageType: string;
  logger: Logger;
  backends: BackendRegistry;
  /** Expiration manager tick; tests shorten it. */
  leaseTickMs?: number;
  /**
   * The one seam every in-memory cache (tokens, ACLs) is invalidated through;
   * with several replicas it also carries invalidations between them.
   */
  invalidations?: InvalidationBus;
  /** Who runs the once-only work (lease revocation); the single server always does. */
  leadership?: Leadership;
}

/** One HTTP request, already parsed by the server layer. */
export interface ApiRequest {
  method: string;
  /** Path after `/v1/`, without query string. */
  path: string;
  query: Record<string, string>;
  body: Record<string, unknown>;
  token?: string;
  /** The `X-Vault-Wrap-TTL` header: wrap the response in a single-use token for this long. */
  wrapTtl?: string;
  remoteAddress: string;
  signal?: AbortSignal;
}

/** The envelope as sent, whose `wrap_info` is set when the response was wrapped. */
export type ApiEnvelope = Omit<Envelope, "wrap_info"> & { wrap_info: WrapInfo | null };

export interface ApiResponse {
  status: number;
  body?: ApiEnvelope | { errors: string[] };
  raw?: { contentType: string; body: string | Buffer };
}

/**
 * The request a backend handles. `signal` is the API request's, read only by
 * backends that call out (the server layer makes it on first use), through a
 * getter on this class: a getter in an object literal gives each object a
 * hidden class of its own in V8's old generation, which kept every request's
 * objects alive through young-generation collections.
 */
class BackendRequest implements LogicalRequest {
  operation: Operation;
  readonly path: string;
  readonly params: Record<string, string>;
  data: Record<string, unknown>;
  readonly auth: TokenEntry | undefined;
  sudo?: boolean;
  readonly wrapTtl: number | undefined;
  readonly clientToken: string | undefined;
  readonly mountPath: string;
  readonly connection: { remoteAddress: string };
  readonly storage: StorageView;
  readonly requestId: string;

  constructor(
    private readonly api: ApiRequest,
    fields: Omit<LogicalRequest, "signal" | "sudo">,
  ) {
    this.operation = fields.operation;
    this.path = fields.path;
    this.params = fields.params;
    this.data = fields.data;
    this.auth = fields.auth;
    this.wrapTtl = fields.wrapTtl;
    this.clientToken = fields.clientToken;
    this.mountPath = fields.mountPath;
    this.connection = fields.connection;
    this.storage = fields.storage;
    this.requestId = fields.requestId;
  }

  get signal(): AbortSignal | undefined {
    return this.api.signal;
  }
}

/** Where the lease manager keeps leases and their expiry index, under the barrier. */
const LEASE_PREFIX = "sys/expire/";

/** Where the one-time tidy of auth leases without a token records that it ran. */
const ORPHAN_LEASE_TIDY_KEY = "auth-lease-tidy-v1";

/** The safety-net reload of the mount tables on replicas, should an invalidation be missed. */
const MOUNT_RELOAD_MS = 30_000;

/** How long a replica's claim on a due lease keeps the others from revoking it. */
const LEASE_CLAIM_MS = 15_000;

/** Where the elected replica records the address it serves on, for sys/leader on the others. */
const LEADER_KEY = "ha-leader";

/** The paths served while sealed: everything else answers 503. */
const SEALED_PATHS = new Set(["sys/health", "sys/init", "sys/unseal", "sys/seal-status", "sys/leader"]);

/**
 * The core: routes requests to mounted backends and applies, the same way for
 * every backend, token lookup, the ACL check, field coercion, lease
 * registration, token creation for logins, and audit.
 */
export function createCore(opts: CoreOptions) {
  const { physical, logger } = opts;
  const barrier = createBarrier(physical);
  const sealManager = createSealManager({ physical, barrier, seal: opts.seal, storageType: opts.storageType });
  const router = createRouter();
  const audit = createAuditBroker({ logger });
  const metrics = createMetrics({ transactionRetries: physical.transactionRetries?.bind(physical) });
  const auditTable = createAuditTable(audit, logger);
  const bus = opts.invalidations ?? new LocalInvalidationBus();
  // The caches of one unsealed term subscribe through this; sealing unsubscribes them.
  const subscriptions: Array<() => void> = [];
  const invalidations: InvalidationBus = {
    publish: (ev) => bus.publish(ev),
    subscribe(fn) {
      const unsubscribe = bus.subscribe(fn);
      subscriptions.push(unsubscribe);
      return unsubscribe;
    },
  };
  const quotas = createQuotaStore(barrier, invalidations);
  const leadership = opts.leadership ?? alwaysLeader;
  /** The address this replica serves on (set once it listens), reported by sys/leader. */
  let apiAddress = "";
  const ha = {
    leadership,
    get address() {
      return apiAddress;
    },
    set address(value: string) {
      apiAddress = value;
      if (leadership.isLeader() && !barrier.isSealed()) void recordLeader();
    },
    /** The elected replica's address: this one's, or what the leader recorded. */
    async leaderAddress(): Promise<string> {
      if (leadership.isLeader()) return apiAddress;
      if (barrier.isSealed()) return "";
      const recorded = await barrier.view("core/").getJSON<{ address: string }>(LEADER_KEY).catch(() => undefined);
      return recorded?.address ?? "";
    },
  };

  /** Set while this replica publishes its own mount-table change (local delivery is synchronous). */
  let publishingMounts = false;

  /** Another replica rotated the keyring: write under its new term from now on. */
  async function reloadKeyring() {
    try {
      await barrier.reload();
    } catch (err) {
      // Sealed meanwhile, or storage failed: a value under an unknown term still reloads it on read.
      logger.warn({ err: err instanceof Error ? err.message : String(err) }, "could not reload the keyring");
    }
  }

  /** sys/rotate: a new data key, announced so that every replica encrypts with it. */
  async function rotateKeyring(): Promise<number> {
    const term = await barrier.rotate();
    invalidations.publish({ kind: "keyring" });
    return term;
  }

  async function recordLeader() {
    if (!apiAddress) return;
    try {
      await barrier.view("core/").putJSON(LEADER_KEY, { address: apiAddress, since: new Date().toISOString() });
    } catch (err) {
      logger.warn({ err: err instanceof Error ? err.message : String(err) }, "could not record the leader address");
    }
  }

  // Services that exist only while unsealed.
  let unsealedState: Awaited<ReturnType<typeof postUnseal>> | undefined;

  const core = {
    barrier,
    sealManager,
    router,
    audit,
    auditTable,
    quotas,
    metrics,
    ha,
    sealType: opts.seal.type,
    logger,
    storageType: opts.storageType,
    get services() {
      if (!unsealedState) throw sealed();
      return unsealedState;
    },
    isSealed: () => barrier.isSealed(),
    rotateKeyring,
    /** Runs after every successful unseal: loads mounts, policies, tokens, leases, audit devices. */
    async unsealed() {
      unsealedState = await postUnseal();
    },
    /** Stops everything that needs the barrier, then seals it. */
    async seal() {
      const state = unsealedState;
      unsealedState = undefined;
      for (const unsubscribe of subscriptions.splice(0)) unsubscribe();
      if (state) {
        state.stopMountSync();
        await state.stopLeading();
        await state.leases.stop();
        await state.mounts.stopAll();
      }
      await sealManager.seal();
    },
    async close() {
      await core.seal().catch(() => undefined);
      await physical.close();
    },
    handle,
    /** Initialises a fresh store and returns the unseal keys and the root token (`id` chooses it, dev mode). */
    async initialize(params: { secretShares: number; secretThreshold: number; rootTokenId?: string }) {
      if (await sealManager.isInitialized()) throw badRequest("latchkey is already initialized");
      const { keys } = await sealManager.initialize(params);
      await core.unsealed();
      const root = await core.services.tokens.create({
        policies: ["root"],
        path: "auth/token/root",
        displayName: "root",
        noParent: true,
        id: params.rootTokenId,
      });
      return { keys, rootToken: root.token };
    },
  };

  router.mount(
    {
      path: "sys/",
      type: "system",
      uuid: "system",
      accessor: "system_0",
      description: "system endpoints used for control, policy and debugging",
      options: {},
      config: { default_lease_ttl: 0, max_lease_ttl: 0 },
      local: false,
      seal_wrap: false,
      table: "mounts",
    },
    createSysBackend(core),
  );

  async function postUnseal() {
    const coreView = barrier.view("core/");
    // What other replicas changed while this one was sealed went unheard.
    quotas.reset();
    invalidations.subscribe((ev) => quotas.invalidated(ev));
    invalidations.subscribe((ev) => {
      if (ev.kind === "keyring" || ev.kind === "all") void reloadKeyring();
    });
    let hmacKey = await coreView.get("token-hmac-key");
    if (!hmacKey) {
      hmacKey = randomBytes(32);
      await coreView.put("token-hmac-key", hmacKey);
    }
    const policies = createPolicyStore(barrier.view("sys/policy/"), { invalidations });
    // The lease manager needs the token store and the mounts to revoke; both need the lease manager.
    const revoker = async (lease: LeaseEntry) => {
      if (lease.kind === "auth") {
        if (lease.authTokenKey) await tokens.revokeTree(lease.authTokenKey);
        return;
      }
      const mounted = router.get(lease.mountPath);
      if (!mounted) {
        logger.warn({ lease_id: lease.leaseId }, "lease belongs to a mount that no longer exists; forgetting it");
        return;
      }
      await mounted.backend.revoke?.(lease, mounts.storageFor(mounted.entry));
    };
    // Every revocation leaves one line naming the lease (ids are not secrets), so revocations can be counted.
    const revokeAndLog = async (lease: LeaseEntry) => {
      await revoker(lease);
      logger.debug({ lease_id: lease.leaseId }, "lease revoked");
    };
    const renewer = async (lease: LeaseEntry, increment: number) => {
      const mounted = router.get(lease.mountPath);
      if (!mounted) throw badRequest("lease belongs to a mount that no longer exists");
      if (mounted.backend.renew) return mounted.backend.renew(lease, mounts.storageFor(mounted.entry));
      return { ttl: increment || lease.ttl };
    };
    const leases = createLeaseManager({
      storage: barrier.view(LEASE_PREFIX),
      revoker: revokeAndLog,
      renewer,
      logger,
      tickMs: opts.leaseTickMs,
      // Replicas claim a lease before revoking it: a handover never revokes one twice. A claim
      // of a replica killed mid-revocation holds its lease back from the new leader this long.
      claims: leadership.haEnabled ? { replica: randomUUID(), ttlMs: LEASE_CLAIM_MS } : undefined,
    });
    const sysView = barrier.view("sys/");
    const tokens = createTokenStore({
      storage: sysView.sub("token/"),
      hmacKey,
      batchKey: () => barrier.deriveKey("batch-token"),
      leases,
      transaction: (fn) => sysView.transaction((tx) => fn(tx.sub("token/"), tx.sub("expire/"))),
      mountMaxTtl: (path) => {
        const mount = router.mountFor(path);
        return mount ? ttlLimits(mount).maxTtl : SYSTEM_LEASE_TTL;
      },
      mountUuid: (path) => router.mountFor(path)?.entry.uuid,
      invalidations,
      // Vault destroys a token's cubbyhole, and any response it wraps, with the token.
      onRevoke: async (tokenKey) => {
        const cubbyhole = router.get("cubbyhole/");
        if (cubbyhole) await clearCubbyhole(mounts.storageFor(cubbyhole.entry), tokenKey);
        await wrapping.forget(tokenKey);
      },
    });
    const mounts = createMountTable({
      barrier,
      router,
      registry: opts.backends,
      logger,
      metrics: metrics.registry,
      tokens,
      leases,
      isLeader: () => leadership.isLeader(),
      sharedStorage: leadership.haEnabled,
      invalidations,
      onChange: () => {
        // This replica's tables are already current: only the others reload.
        publishingMounts = true;
        try {
          invalidations.publish({ kind: "mounts" });
        } finally {
          publishingMounts = false;
        }
      },
    });
    await mounts.load();
    const stopMountSync = syncMounts(mounts);
    await auditTable.load(barrier.view("core/audit/"));
    const wrapping = createWrapping({ storage: barrier.view("sys/wrapping/"), tokens });
    // Revocation is once-only work: only the elected replica runs the expiration manager.
    const stopLeading = whileLeader(
      leadership,
      () => {
        logger.info("leading: running the expiration manager");
        leases.start();
        void recordLeader();
        void resumeRevocations(tokens);
      },
      async () => {
        logger.info("no longer leading: stopping the expiration manager");
        await leases.stop();
      },
    );
    void forgetOrphanedAuthLeases(coreView, leases, tokens);
    return { policies, leases, tokens, mounts, wrapping, stopLeading, stopMountSync };
  }

  /**
   * Another replica's change of the mount or auth table reaches this one as an
   * invalidation; a reload every MOUNT_RELOAD_MS catches one that was missed.
   */
  function syncMounts(mounts: { reload(): Promise<void> }): () => void {
    const reload = () =>
      void mounts.reload().catch((err: unknown) => {
        logger.warn({ err: err instanceof Error ? err.message : String(err) }, "could not reload the mount tables");
      });
    invalidations.subscribe((ev) => {
      if ((ev.kind === "mounts" && !publishingMounts) || ev.kind === "all") reload();
    });
    if (!leadership.haEnabled) return () => undefined;
    const timer = setInterval(reload, MOUNT_RELOAD_MS);
    timer.unref();
    return () => clearInterval(timer);
  }

  /** Token revocations a killed server left half-done are finished by the replica that revokes. */
  async function resumeRevocations(tokens: Pick<TokenStore, "resumeRevocations">) {
    try {
      const resumed = await tokens.resumeRevocations();
      if (resumed > 0) logger.warn({ resumed }, "finished token revocations left unfinished by a previous run");
    } catch (err) {
      // Sealed meanwhile, or storage failed: the next unseal or leadership tries again.
      logger.warn({ err: err instanceof Error ? err.message : String(err) }, "resuming token revocations did not finish");
    }
  }

  /**
   * Older versions wrote a token and its auth lease in two commits, so a crash
   * between them could leave a lease without a token. Tokens and leases are now
   * one commit; this pass removes such leftovers once, in the background, and
   * records that it is done.
   */
  async function forgetOrphanedAuthLeases(
    coreView: StorageView,
    leases: Pick<LeaseManager, "forgetOrphanedAuthLeases">,
    tokens: Pick<TokenStore, "exists">,
  ) {
    try {
      if (await coreView.get(ORPHAN_LEASE_TIDY_KEY)) return;
      const forgotten = await leases.forgetOrphanedAuthLeases((key) => tokens.exists(key));
      if (forgotten > 0) logger.warn({ forgotten }, "forgot auth leases whose token was never written");
      await coreView.putJSON(ORPHAN_LEASE_TIDY_KEY, { done: new Date().toISOString() });
    } catch (err) {
      // Sealed meanwhile, or storage failed: the next unseal tries again.
      logger.warn({ err: err instanceof Error ? err.message : String(err) }, "auth lease tidy did not finish");
    }
  }

  async function handle(req: ApiRequest): Promise<ApiResponse> {
    const started = process.hrtime.bigint();
    const requestId = randomUUID();
    const trail: AuditTrail = { path: req.path, data: req.body };
    let mountType = "unknown";
    try {
      const path = normalisePath(req.path);
      trail.path = path;
      trail.operation = operationFor(req.method, req.query.list);
      if (!trail.operation) throw unsupportedOperation(`unsupported HTTP method ${req.method}`);
      if (trail.operation === "read" || trail.operation === "list") trail.data = withoutListFlag(req.query);
      if (barrier.isSealed() && !SEALED_PATHS.has(path)) throw sealed();
      const wrapTtl = req.wrapTtl === undefined || req.wrapTtl === "" ? undefined : parseWrapTtl(req.wrapTtl);

      const { mount, match } = router.route(path);
      trail.mount = mount;
      // Authenticate before routing reveals anything (Vault's order): without a
      // valid token, a missing mount and a missing path answer the same 403.
      if (!match?.def.unauthenticated) trail.auth = await authenticateFor(req, path);
      if (!mount) throw notFound(`no handler for route "${path}": no mount at this path`);
      mountType = mount.entry.type;
      if (!match) throw notFound(`unsupported path "${path}"`);
      // Vault's `?help=1`: what the path does and takes, to any authenticated caller.
      if (req.query.help !== undefined && req.query.help !== "" && parseBool(req.query.help, 'query parameter "help"')) {
        return helpResponse(match);
      }
      return await dispatch(req, requestId, path, trail, match, wrapTtl);
    } catch (err) {
      await auditFailure(req, requestId, trail, err);
      return errorResponse(err, requestId);
    } finally {
      metrics.observeRequest(mountType, trail.operation ?? "unknown", Number(process.hrtime.bigint() - started) / 1e9);
    }
  }

  function errorResponse(err: unknown, requestId: string): ApiResponse {
    if (err instanceof LatchkeyError) {
      if (err.status >= 500) logger.error({ err, request_id: requestId }, err.message);
      return { status: err.status, body: { errors: err.message === "" ? [] : [err.message] } };
    }
    logger.error({ err, request_id: requestId }, "internal error");
    return { status: 500, body: { errors: ["internal error; see the server log for request " + requestId] } };
  }

  /**
   * Vault audits every request, denied ones included: a request that failed
   * before its entries were written gets both now, with the error it got.
   */
  async function auditFailure(req: ApiRequest, requestId: string, trail: AuditTrail, err: unknown) {
    if (!audit.enabled() || trail.responseAudited) return;
    const entry = auditRequestOf(requestId, trail, req);
    try {
      if (!trail.requestAudited) await audit.logRequest(entry);
      await audit.logResponse({ ...entry, error: auditedError(err) });
    } catch (auditErr) {
      // The request already failed; the broker has logged why the entry could not be written.
      logger.debug({ err: auditErr, request_id: requestId }, "audit entry for a failed request not written");
    }
  }

  async function dispatch(
    req: ApiRequest,
    requestId: string,
    path: string,
    trail: AuditTrail,
    match: RouteMatch,
    wrapTtl: number | undefined,
  ): Promise<ApiResponse> {
    const { def, mount } = match;
    const storage = mount.entry.uuid === "system" ? undefined : unsealedState?.mounts.storageFor(mount.entry);
    const { auth } = trail;
    const logical = new BackendRequest(req, {
      operation: trail.operation ?? "read",
      path: match.path,
      params: match.params,
      data: trail.data,
      auth,
      clientToken: def.needsClientToken ? req.token : undefined,
      mountPath: mount.entry.path,
      connection: { remoteAddress: req.remoteAddress },
      storage: storage ?? sysStorage,
      requestId,
      wrapTtl,
    });
    // Vault's ExistenceCheck: a write to something that does not exist is `create`.
    if (logical.operation === "update" && def.exists) {
      logical.operation = (await def.exists(logical)) ? "update" : "create";
      trail.operation = logical.operation;
    }
    const operation = logical.operation;
    const handler = def.ops[operation] ?? (operation === "create" ? def.ops.update : undefined);
    if (!handler) throw unsupportedOperation(`unsupported operation ${operation} on "${path}"`);

    logical.data = coerceFields(def.fields, logical.data);
    trail.data = logical.data;
    if (auth) {
      logical.sudo = await authorize(auth, path, operation, def.sudo === true, logical.data, wrapTtl);
      await unsealedState?.tokens.use(auth);
    }

    // With no audit device enabled, skip building the entries: this is the hot path.
    const auditReq: AuditRequest | undefined = audit.enabled() ? auditRequestOf(requestId, trail, req) : undefined;
    const recordResponse = (response: AuditResponse["response"], error?: string) => {
      trail.responseAudited = true;
      return auditReq ? audit.logResponse({ ...auditReq, response, error }) : undefined;
    };
    if (auditReq) await audit.logRequest(auditReq);
    trail.requestAudited = true;

    let resp: (LogicalResponse & { authResult?: TokenAuthResult }) | undefined;
    try {
      resp = (await handler(logical)) ?? {};
    } catch (err) {
      await recordResponse(undefined, auditedError(err));
      throw err;
    }

    if (resp.raw) {
      await recordResponse({});
      return { status: resp.raw.status ?? 200, raw: resp.raw };
    }

    const extra: Parameters<typeof envelope>[2] = { mountType: mount.entry.type };
    try {
      if (resp.secret) {
        const lease = await registerSecretLease(mount, match.path, resp.secret, auth);
        extra.leaseId = lease.leaseId;
        extra.leaseDuration = lease.ttl;
        extra.renewable = lease.renewable;
      }
      if (resp.leaseInfo) {
        extra.leaseId = resp.leaseInfo.leaseId;
        extra.leaseDuration = resp.leaseInfo.ttl;
        extra.renewable = resp.leaseInfo.renewable;
      }
      if (resp.auth) extra.auth = await issueLoginToken(mount, match.path, resp.auth);
      if (resp.authResult) extra.auth = resp.authResult;
    } catch (err) {
      await recordResponse(undefined, auditedError(err));
      throw err;
    }

    await recordResponse({
      data: resp.data,
      secret: extra.leaseId ? { lease_id: extra.leaseId } : undefined,
      auth: extra.auth,
    });
    const hasBody =
      resp.data !== undefined || resp.auth || resp.authResult || resp.secret || resp.leaseInfo || resp.warnings?.length;
    if (resp.wrapInfo) return { status: 200, body: { ...envelope(requestId, resp, extra), wrap_info: resp.wrapInfo } };
    if (!hasBody) return { status: resp.status ?? 204 };
    const body = envelope(requestId, resp, extra);
    if (wrapTtl === undefined) return { status: resp.status ?? 200, body };
    return { status: 200, body: await wrapResponse(body, path, wrapTtl) };
  }

  /** Vault's response wrapping: the client gets a single-use token in `wrap_info`; the response waits behind it. */
  async function wrapResponse(body: Envelope, path: string, ttl: number): Promise<ApiEnvelope> {
    const { data, auth, lease_id, renewable, lease_duration, warnings } = body;
    const info = await core.services.wrapping.wrap({ data, auth, lease_id, renewable, lease_duration, warnings }, path, ttl);
    return { ...body, data: null, auth: null, lease_id: "", renewable: false, lease_duration: 0, warnings: null, wrap_info: info };
  }

  /** The system backend's own view; its paths mostly use core services instead. */
  const sysStorage = barrier.view("sys/system/");

  /**
   * Vault checks a wrapping token before the token check of sys/wrapping/unwrap:
   * a spent or unknown one sent as the client token is a 400 naming it, not a 403.
   */
  async function authenticateFor(req: ApiRequest, path: string): Promise<TokenEntry> {
    try {
      return await authenticate(req);
    } catch (err) {
      if (path === "sys/wrapping/unwrap" && req.token && err instanceof LatchkeyError && err.status === 403) {
        throw invalidWrappingToken();
      }
      throw err;
    }
  }

  async function authenticate(req: ApiRequest): Promise<TokenEntry> {
    if (!req.token) throw permissionDenied("missing client token");
    const state = unsealedState;
    if (!state) throw sealed();
    const entry = await state.tokens.lookup(req.token);
    if (!entry) throw permissionDenied("invalid token");
    if (entry.boundCidrs?.length && !cidrAllows(entry.boundCidrs, req.remoteAddress)) {
      throw permissionDenied("token is not allowed from this address");
    }
    return entry;
  }

  async function authorize(
    auth: TokenEntry,
    path: string,
    operation: Operation,
    needsSudo: boolean,
    data: Record<string, unknown>,
    wrapTtl: number | undefined,
  ): Promise<boolean> {
    const acl = await core.services.policies.aclFor(auth.policies);
    const ctx = { metadata: auth.metadata };
    const result = acl.check(path, operation, ctx);
    if (!result.allowed || (needsSudo && !result.sudo)) {
      logger.debug({ path, operation, accessor_hmac: accessorHmac(auth) }, "request denied by policy");
      throw permissionDenied();
    }
    // allowed_parameters / denied_parameters / required_parameters apply to writes.
    if (operation === "create" || operation === "update" || operation === "patch") {
      const params = acl.checkParameters(path, data, ctx);
      if (!params.allowed) {
        logger.debug(
          { path, operation, accessor_hmac: accessorHmac(auth), reason: params.reason },
          "request denied by policy parameters",
        );
        throw permissionDenied(params.reason);
      }
    }
    checkWrapping(result, wrapTtl);
    return result.sudo;
  }

  /** Logs name a token by a keyed hash of its accessor, never by the accessor itself. */
  const accessorHmac = (auth: TokenEntry) => (auth.accessor ? core.services.tokens.hashAccessor(auth.accessor) : "");

  async function registerSecretLease(
    mount: MountedBackend,
    path: string,
    secret: NonNullable<LogicalResponse["secret"]>,
    auth: TokenEntry | undefined,
  ) {
    const { defaultTtl, maxTtl } = ttlLimits(mount);
    const ttl = Math.min(secret.ttl > 0 ? secret.ttl : defaultTtl, secret.maxTtl || maxTtl, maxTtl);
    const now = Math.floor(Date.now() / 1000);
    const registration: LeaseRegistration = {
      mountPath: mount.entry.path,
      path,
      kind: "secret",
      ttl,
      maxExpireTime: now + Math.min(secret.maxTtl || maxTtl, maxTtl),
      renewable: secret.renewable,
      tokenKey: auth?.type === "service" ? auth.key : undefined,
      batchTokenKey: auth?.type === "batch" ? auth.key : undefined,
      internal: secret.internal,
    };
    const { commit } = secret;
    if (!commit) return core.services.leases.register(registration);
    // One transaction over the barrier's root: the backend's writes and the lease commit together.
    let lease: LeaseEntry;
    try {
      lease = await barrier.view("").transaction(async (root) => {
        await commit.write(root.sub(storagePrefix(mount.entry)));
        return core.services.leases.register(registration, root.sub(LEASE_PREFIX));
      });
    } catch (err) {
      await commit.settled(err);
      throw err;
    }
    await commit.settled();
    return lease;
  }

  async function issueLoginToken(mount: MountedBackend, path: string, auth: NonNullable<LogicalResponse["auth"]>) {
    // Vault: no auth method may hand out a root token, whatever its role says.
    if (policyNames(auth.policies).includes("root")) {
      logger.warn({ mount: mount.entry.path }, "auth method tried to issue a root token; refused");
      throw permissionDenied("auth methods cannot create root tokens");
    }
    const { defaultTtl, maxTtl } = ttlLimits(mount);
    const { token, entry } = await core.services.tokens.create({
      policies: auth.policies,
      metadata: auth.metadata,
      ttl: Math.min(auth.ttl > 0 ? auth.ttl : defaultTtl, maxTtl),
      explicitMaxTtl: auth.explicitMaxTtl ?? auth.maxTtl,
      period: auth.period,
      numUses: auth.numUses,
      renewable: auth.renewable,
      type: auth.tokenType,
      noParent: true,
      noDefaultPolicy: auth.noDefaultPolicy,
      boundCidrs: auth.boundCidrs,
      displayName: auth.displayName ?? `${mount.entry.path.replace(/^auth\//, "").replace(/\/$/, "")}-${auth.alias?.name ?? ""}`,
      path: mount.entry.path + path,
    });
    return toAuthResult(token, entry);
  }

  function ttlLimits(mount: MountedBackend) {
    return effectiveLeaseTtls(mount.entry.config);
  }

  return core;
}

export type Core = ReturnType<typeof createCore>;

/** The error an audit entry records: a latchkey error's message (the broker hashes what it quotes), else nothing internal. */
const auditedError = (err: unknown) => (err instanceof LatchkeyError ? err.message : "internal error");

/** A policy's `min_wrapping_ttl` / `max_wrapping_ttl` on the path: the response must be wrapped, within them. */
function checkWrapping(limits: { minWrappingTtl?: number; maxWrappingTtl?: number }, wrapTtl: number | undefined) {
  const min = limits.minWrappingTtl ?? 0;
  const max = limits.maxWrappingTtl ?? 0;
  if (min === 0 && max === 0) return;
  if (wrapTtl === undefined) throw badRequest("policy requires the response to be wrapped: set the \"X-Vault-Wrap-TTL\" header");
  if (min > 0 && wrapTtl < min) throw badRequest(`wrapping TTL is less than the minimum of ${min}s permitted by policy`);
  if (max > 0 && wrapTtl > max) throw badRequest(`wrapping TTL exceeds the maximum of ${max}s permitted by policy`);
}

/** Vault's help response: the path's description, its operations and its fields, as Markdown. */
function helpResponse(match: RouteMatch): ApiResponse {
  const { def } = match;
  const lines = [`## DESCRIPTION`, "", def.help ?? `${match.mount.entry.type} path "${def.pattern}".`, ""];
  lines.push("## OPERATIONS", "", ...Object.keys(def.ops).map((op) => `- ${op}`), "");
  const fields = Object.entries(def.fields ?? {});
  if (fields.length > 0) {
    lines.push("## PARAMETERS", "");
    for (const [name, field] of fields) lines.push(`${name} (${field.type})`, `    ${field.description ?? ""}`.trimEnd(), "");
  }
  return { status: 200, raw: { contentType: "application/json", body: JSON.stringify({ help: lines.join("\n"), see_also: null }) } };
}

/** What is known of a request so far, for its audit entries; a failure can come at any step. */
interface AuditTrail {
  path: string;
  operation?: Operation;
  data: Record<string, unknown>;
  mount?: MountedBackend;
  auth?: TokenEntry;
  requestAudited?: boolean;
  responseAudited?: boolean;
}

/** The raw token goes to the broker, which hashes it, so sys/audit-hash of a token finds it in the log. */
function auditRequestOf(requestId: string, trail: AuditTrail, req: ApiRequest): AuditRequest {
  const { auth, mount } = trail;
  return {
    time: new Date().toISOString(),
    auth: auth
      ? {
          clientToken: req.token,
          clientTokenKey: auth.key,
          accessor: auth.accessor,
          displayName: auth.displayName,
          policies: auth.policies,
          metadata: auth.metadata,
          tokenType: auth.type,
        }
      : req.token
        ? { clientToken: req.token }
        : undefined,
    request: {
      id: requestId,
      // A method that maps to no operation is audited as the read it was not.
      operation: trail.operation ?? "read",
      mountType: mount?.entry.type,
      mountPoint: mount?.entry.path,
      path: trail.path,
      data: trail.data,
      remoteAddress: req.remoteAddress,
    },
  };
}

/** Collapses duplicate slashes; rejects `..` segments that could escape a mount's subtree. */
function normalisePath(path: string): string {
  // Most paths need neither: no doubled or leading slash, and no dot at all.
  if (!path.includes("//") && path[0] !== "/" && !path.includes(".")) return path;
  const clean = path.replace(/\/{2,}/g, "/").replace(/^\//, "");
  if (clean.split("/").some((s) => s === ".." || s === ".")) throw badRequest(`invalid path "${path}"`);
  return clean;
}

function withoutListFlag(query: Record<string, string>): Record<string, unknown> {
  const { list: _list, ...rest } = query;
  return rest;
}
