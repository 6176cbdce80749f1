import { hkdfSync, randomBytes } from "node:crypto";
import { badRequest, internalError, LatchkeyError, sealed } from "../core/errors.js";
import { decryptValue, encryptValue, termOf } from "./aead.js";
import type { PhysicalStore, PhysicalTx, StorageView } from "./types.js";
import { createView, type ValueCodec } from "./view.js";

/** The keyring, encrypted with the root key (term 0 in the value header). */
export const KEYRING_KEY = "core/keyring";
/** The seal's own, non-secret configuration (plain JSON). */
export const SEAL_CONFIG_KEY = "core/seal-config";
/** The root key wrapped by the auto-unseal key file. */
export const ROOT_KEY_WRAPPED_KEY = "core/root-key-wrapped";

/** Physical keys that are written around the barrier, never through a view. */
const RESERVED_KEYS = new Set([KEYRING_KEY, SEAL_CONFIG_KEY, ROOT_KEY_WRAPPED_KEY]);

const KEY_BYTES = 32;
const ROOT_KEY_TERM = 0;

/**
 * The encrypting barrier between everything latchkey stores and the physical
 * store. While sealed it holds no key and every access through its views
 * throws `sealed()`.
 */
export interface Barrier {
  isInitialized(): Promise<boolean>;
  /** Creates the keyring (term 1) under `rootKey` and leaves the barrier unsealed. */
  initialize(rootKey: Uint8Array): Promise<void>;
  /** Decrypts the keyring with `rootKey`; a wrong key throws `unseal failed: invalid key`. */
  unseal(rootKey: Uint8Array): Promise<void>;
  seal(): void;
  isSealed(): boolean;
  /** Installs a new data key as the active term; older terms stay to decrypt older values. Returns the new term. */
  rotate(): Promise<number>;
  activeTerm(): number;
  /** The active term and when it was installed, for sys/key-status. */
  keyStatus(): { term: number; installTime: string };
  /** Re-reads the keyring, e.g. after another server on the same database rotated it. */
  reload(): Promise<void>;
  /** An encrypted view of the physical keys under `prefix` (which ends with `/`, or is empty). */
  view(prefix: string): StorageView;
  /**
   * A 256-bit key for `purpose` (batch tokens, audit salts), derived with
   * HKDF-SHA256 from the data key of `term` (default: the active term), so it
   * changes when the keyring rotates and never has to be stored.
   */
  deriveKey(purpose: string, term?: number): { term: number; key: Uint8Array };
}

interface Keyring {
  activeTerm: number;
  keys: Map<number, Buffer>;
  installTimes: Map<number, string>;
}

/** The keyring as stored (inside its encryption): JSON, keys in base64. */
interface StoredKeyring {
  version: 1;
  activeTerm: number;
  keys: { term: number; key: string; installTime: string }[];
}

export const invalidRootKey = () => new LatchkeyError("LK_ERR_INVALID_UNSEAL_KEY", 400, "unseal failed: invalid key");

const unknownTerm = (term: number) =>
  new LatchkeyError("LK_ERR_UNKNOWN_KEY_TERM", 400, `unknown keyring term ${term}`);

export function createBarrier(physical: PhysicalStore): Barrier {
  let state: { rootKey: Buffer; keyring: Keyring; derived: Map<string, Uint8Array> } | undefined;
  let rotation: Promise<unknown> = Promise.resolve();

  const unsealed = () => {
    if (!state) throw sealed();
    return state;
  };

  async function readKeyring(rootKey: Uint8Array): Promise<Keyring> {
    const stored = await physical.get(KEYRING_KEY);
    if (!stored) throw badRequest("latchkey is not initialized");
    let plaintext: Uint8Array;
    try {
      plaintext = decryptValue(rootKey, KEYRING_KEY, stored);
    } catch {
      throw invalidRootKey();
    }
    return parseKeyring(plaintext);
  }

  async function writeKeyring(rootKey: Uint8Array, keyring: Keyring): Promise<void> {
    await physical.put(KEYRING_KEY, encryptValue(rootKey, ROOT_KEY_TERM, KEYRING_KEY, serializeKeyring(keyring)));
  }

  function install(rootKey: Uint8Array, keyring: Keyring) {
    const copy = Buffer.from(rootKey); // before forget(), which zeroes the current root key
    forget();
    state = { rootKey: copy, keyring, derived: new Map() };
  }

  function forget() {
    if (!state) return;
    state.rootKey.fill(0);
    for (const key of state.keyring.keys.values()) key.fill(0);
    for (const key of state.derived.values()) key.fill(0);
    state = undefined;
  }

  /** Queued behind a rotation in flight, so that a read of the older keyring never replaces the newer one. */
  function reload(): Promise<void> {
    const next = rotation.then(async () => {
      const { rootKey } = unsealed();
      const keyring = await readKeyring(rootKey);
      if (state) install(rootKey, keyring);
    });
    rotation = next.catch(() => undefined);
    return next;
  }

  const codec: ValueCodec = {
    encode(physicalKey, plaintext) {
      const { keyring } = unsealed();
      return encryptValue(keyring.keys.get(keyring.activeTerm)!, keyring.activeTerm, physicalKey, plaintext);
    },
    decode(physicalKey, stored) {
      const { keyring } = unsealed();
      const term = termOf(stored);
      const key = term === undefined ? undefined : keyring.keys.get(term);
      if (!key) throw internalError(`value at "${physicalKey}" is not readable with the keyring (term ${term})`);
      try {
        return decryptValue(key, physicalKey, stored);
      } catch (err) {
        throw internalError(`value at "${physicalKey}" failed to decrypt`, err);
      }
    },
  };

  /** A value written by a server that rotated after we loaded the keyring: reload once before decoding it. */
  async function loadTermOf(stored: Uint8Array | undefined): Promise<void> {
    const term = stored && termOf(stored);
    if (term !== undefined && !unsealed().keyring.keys.has(term)) await reload();
  }

  const writable = (key: string) => {
    unsealed();
    if (RESERVED_KEYS.has(key)) throw internalError(`storage key "${key}" is reserved for the seal`);
  };

  const guardTx = (tx: PhysicalTx): PhysicalTx => ({
    async get(key) {
      unsealed();
      const stored = await tx.get(key);
      await loadTermOf(stored);
      return stored;
    },
    async put(key, value) {
      writable(key);
      await tx.put(key, value);
    },
    async delete(key) {
      writable(key);
      await tx.delete(key);
    },
    async list(prefix, after, limit) {
      unsealed();
      return tx.list(prefix, after, limit);
    },
    async scan(prefix, after, limit) {
      unsealed();
      return tx.scan(prefix, after, limit);
    },
  });

  /** The physical store as views see it: refused while sealed, seal keys untouchable. */
  const guarded: PhysicalStore = {
    ...guardTx(physical),
    async transaction(fn) {
      unsealed();
      return physical.transaction((tx) => fn(guardTx(tx)));
    },
    async close() {
      throw internalError("a barrier view cannot close the physical store");
    },
  };

  return {
    async isInitialized() {
      return (await physical.get(KEYRING_KEY)) !== undefined;
    },
    async initialize(rootKey) {
      checkRootKey(rootKey);
      if (await physical.get(KEYRING_KEY)) throw badRequest("latchkey is already initialized");
      const now = new Date().toISOString();
      const keyring: Keyring = {
        activeTerm: 1,
        keys: new Map([[1, randomBytes(KEY_BYTES)]]),
        installTimes: new Map([[1, now]]),
      };
      await writeKeyring(rootKey, keyring);
      install(rootKey, keyring);
    },
    async unseal(rootKey) {
      checkRootKey(rootKey);
      install(rootKey, await readKeyring(rootKey));
    },
    seal: forget,
    isSealed: () => state === undefined,
    rotate() {
      const next = rotation.then(async () => {
        const { rootKey } = unsealed();
        // Start from the stored keyring so that a rotation by another server is kept.
        const keyring = await readKeyring(rootKey);
        const term = Math.max(...keyring.keys.keys()) + 1;
        keyring.keys.set(term, randomBytes(KEY_BYTES));
        keyring.installTimes.set(term, new Date().toISOString());
        keyring.activeTerm = term;
        await writeKeyring(rootKey, keyring);
        if (state) install(rootKey, keyring);
        return term;
      });
      rotation = next.catch(() => undefined);
      return next;
    },
    activeTerm: () => unsealed().keyring.activeTerm,
    keyStatus() {
      const { keyring } = unsealed();
      return { term: keyring.activeTerm, installTime: keyring.installTimes.get(keyring.activeTerm) ?? "" };
    },
    reload,
    view: (prefix) => createView(guarded, prefix, codec),
    deriveKey(purpose, term) {
      const { keyring, derived } = unsealed();
      const t = term ?? keyring.activeTerm;
      const dataKey = keyring.keys.get(t);
      if (!dataKey) throw unknownTerm(t);
      const cacheKey = `${t}/${purpose}`;
      let key = derived.get(cacheKey);
      if (!key) {
        key = new Uint8Array(hkdfSync("sha256", dataKey, new Uint8Array(0), `latchkey/${purpose}`, KEY_BYTES));
        derived.set(cacheKey, key);
      }
      return { term: t, key: new Uint8Array(key) };
    },
  };
}

function checkRootKey(rootKey: Uint8Array) {
  if (rootKey.length !== KEY_BYTES) throw invalidRootKey();
}

function serializeKeyring(keyring: Keyring): Uint8Array {
  const stored: StoredKeyring = {
    version: 1,
    activeTerm: keyring.activeTerm,
    keys: [...keyring.keys].map(([term, key]) => ({
      term,
      key: key.toString("base64"),
      installTime: keyring.installTimes.get(term) ?? "",
    })),
  };
  return Buffer.from(JSON.stringify(stored), "utf8");
}

function parseKeyring(plaintext: Uint8Array): Keyring {
  const stored = JSON.parse(Buffer.from(plaintext).toString("utf8")) as StoredKeyring;
  if (stored.version !== 1) throw internalError(`unsupported keyring version ${String(stored.version)}`);
  const keyring: Keyring = { activeTerm: stored.activeTerm, keys: new Map(), installTimes: new Map() };
  for (const entry of stored.keys) {
    keyring.keys.set(entry.term, Buffer.from(entry.key, "base64"));
    keyring.installTimes.set(entry.term, entry.installTime);
  }
  if (!keyring.keys.has(keyring.activeTerm)) throw internalError("keyring has no key for its active term");
  return keyring;
}
