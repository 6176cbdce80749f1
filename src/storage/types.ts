/**
 * Storage contracts. A PhysicalStore holds opaque bytes (SQLite, PostgreSQL,
 * memory: one conformance suite). The barrier sits on top of it and encrypts
 * every value; everything above the barrier sees a StorageView.
 *
 * Keys are `/`-separated paths such as `logical/<mount-uuid>/data/foo`. Keys are
 * stored in plaintext, so they must never contain secret material (tokens are
 * keyed by their HMAC, never by their value).
 */
export interface PhysicalReader {
  get(key: string): Promise<Uint8Array | undefined>;
  /**
   * Vault list semantics: the immediate children of `prefix` (which ends with
   * `/` or is empty), sorted; a child that has children of its own is returned
   * once with a trailing `/`. `after` and `limit` page through the result.
   */
  list(prefix: string, after?: string, limit?: number): Promise<string[]>;
  /**
   * Every key under `prefix`, recursively, sorted ascending by byte order,
   * returned relative to `prefix`; keys strictly greater than `after`
   * (relative) and at most `limit` of them. Used by indexes such as the
   * lease-expiry index, so that a reader touches only what it needs.
   */
  scan(prefix: string, after?: string, limit?: number): Promise<string[]>;
}

export interface PhysicalTx extends PhysicalReader {
  put(key: string, value: Uint8Array): Promise<void>;
  delete(key: string): Promise<void>;
}

export interface PhysicalStore extends PhysicalTx {
  /**
   * Runs `fn` and commits all of its writes atomically when it resolves; if it
   * throws, none of them is applied. Reads inside `fn` see its own writes.
   * Transactions are serializable: each runs as if no other transaction ran
   * while it did, so a read-modify-write never loses a concurrent update.
   * `fn` must not start another transaction on the same store.
   */
  transaction<T>(fn: (tx: PhysicalTx) => Promise<T>): Promise<T>;
  /**
   * Transactions run again since the store opened because they lost a
   * serialization race (PostgreSQL); absent where transactions never conflict.
   */
  transactionRetries?(): number;
  close(): Promise<void>;
}

/** What backends and core services use: values are encrypted by the barrier; keys are relative to the view. */
export interface StorageView {
  get(key: string): Promise<Uint8Array | undefined>;
  put(key: string, value: Uint8Array): Promise<void>;
  delete(key: string): Promise<void>;
  list(prefix: string, after?: string, limit?: number): Promise<string[]>;
  scan(prefix: string, after?: string, limit?: number): Promise<string[]>;
  getJSON<T>(key: string): Promise<T | undefined>;
  putJSON(key: string, value: unknown): Promise<void>;
  /** Atomic group of writes, same contract as PhysicalStore.transaction; the tx is itself a view. */
  transaction<T>(fn: (tx: StorageView) => Promise<T>): Promise<T>;
  /** A view of the subtree `prefix` (must end with `/`). */
  sub(prefix: string): StorageView;
}
