import type { TokenEntry, TokenType } from "../types.js";

/** What a caller asks for when creating a token; the store applies Vault's defaults and limits. */
export interface CreateTokenParams {
  policies: string[];
  metadata?: Record<string, string>;
  /** Seconds; 0 or absent = the default TTL, or no expiry for root tokens. */
  ttl?: number;
  explicitMaxTtl?: number;
  /** Seconds; a periodic token renews to this TTL forever (unless explicitMaxTtl). */
  period?: number;
  numUses?: number;
  renewable?: boolean;
  type?: TokenType;
  /** The token making the request: the policy rule, and the parent link unless `noParent`. */
  parent?: TokenEntry;
  /**
   * What bounds `policies` when there is a parent (Vault's auth/token/create rules):
   * `subset` (default): the parent's policies, with `default` only if the parent has it;
   * `sudo`: nothing, the caller holds sudo on the creating path, `default` added;
   * `exact`: a token role has already checked them, so they are taken as they are.
   * Whatever the rule, only a root parent can create a root token.
   */
  policyRule?: "subset" | "sudo" | "exact";
  noParent?: boolean;
  displayName?: string;
  /** Request path that creates it, e.g. `auth/token/create`, `auth/kubernetes/login`. */
  path: string;
  noDefaultPolicy?: boolean;
  boundCidrs?: string[];
  /** A chosen token value: only for the dev root token. */
  id?: string;
  /** The token role it is created through (`auth/token/create/<role>`). */
  role?: string;
}


/** Vault's `auth` block of a response that hands out a token (create, login, renew). */
export interface TokenAuthResult {
  client_token: string;
  accessor: string;
  policies: string[];
  token_policies: string[];
  /** null when empty, as Vault renders it. */
  metadata: Record<string, string> | null;
  /** Seconds left; 0 for tokens that never expire. */
  lease_duration: number;
  renewable: boolean;
  entity_id: string;
  token_type: TokenType;
  orphan: boolean;
  num_uses: number;
}

/**
 * The token store. Service tokens live only as a keyed hash (`id/<key>`);
 * batch tokens live only in the hands of their holder. Resolved service tokens
 * without a use limit are cached in memory (bounded, keyed by the keyed hash)
 * and dropped through the invalidation bus whenever one changes.
 */
export interface TokenStore {
  create(params: CreateTokenParams): Promise<{ token: string; entry: TokenEntry }>;
  /** The hot path of every request. Undefined for unknown or expired service tokens; 403 for a batch token that fails to open. */
  lookup(token: string): Promise<TokenEntry | undefined>;
  /**
   * Counts one use of a limited-use token (403 if it has none left). The last
   * use succeeds and revokes the token; the returned entry then has numUses -1.
   */
  use(entry: TokenEntry): Promise<TokenEntry>;
  lookupByAccessor(accessor: string): Promise<TokenEntry | undefined>;
  lookupByKey(key: string): Promise<TokenEntry | undefined>;
  /** Extends a token's life by `increment` seconds (or its period / original TTL), within its limits. */
  renew(entry: TokenEntry, increment?: number): Promise<TokenEntry>;
  /** Revokes the token, every descendant, and every lease any of them created. */
  revokeTree(key: string): Promise<void>;
  /** Revokes the token and its leases; its children become orphans. */
  revokeOrphan(key: string): Promise<void>;
  /**
   * Finishes the tree and orphan revocations that began but did not end (the
   * server died half-way); returns how many there were. Run once after unseal.
   */
  resumeRevocations(): Promise<number>;
  /** False when no token has this accessor. */
  revokeAccessor(accessor: string): Promise<boolean>;
  listAccessors(): Promise<string[]>;
  /** The keyed hash a token is stored under (also the lease owner key). */
  keyOf(token: string): string;
  /** A keyed hash of an accessor: what the accessor index and logs show instead of the accessor. */
  hashAccessor(accessor: string): string;
  /** Whether a token entry is stored under this key at all (live or not). */
  exists(key: string): Promise<boolean>;
  /** The store's clock, Unix seconds. */
  nowSeconds(): number;
}
