import type { PhysicalReader, PhysicalStore, PhysicalTx, StorageView } from "./types.js";

/**
 * Turns stored bytes into plaintext and back. The barrier's codec encrypts with
 * the full physical key as associated data, so a value cannot be moved to
 * another key; the identity codec is for tests only.
 */
export interface ValueCodec {
  encode(physicalKey: string, plaintext: Uint8Array): Uint8Array;
  decode(physicalKey: string, stored: Uint8Array): Uint8Array;
}

export const identityCodec: ValueCodec = {
  encode: (_k, v) => v,
  decode: (_k, v) => v,
};

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A StorageView over `store` rooted at `prefix`, every value passed through `codec`. */
export function createView(store: PhysicalStore, prefix = "", codec: ValueCodec = identityCodec): StorageView {
  return viewOver(store, prefix, codec, (fn) => store.transaction(fn));
}

function viewOver(
  target: PhysicalTx,
  prefix: string,
  codec: ValueCodec,
  transaction: <T>(fn: (tx: PhysicalTx) => Promise<T>) => Promise<T>,
): StorageView {
  if (prefix !== "" && !prefix.endsWith("/")) throw new Error(`storage view prefix must end with "/": ${prefix}`);
  const full = (key: string) => prefix + key;
  const reader: PhysicalReader = target;
  const view: StorageView = {
    async get(key) {
      const stored = await reader.get(full(key));
      return stored && codec.decode(full(key), stored);
    },
    async put(key, value) {
      await target.put(full(key), codec.encode(full(key), value));
    },
    async delete(key) {
      await target.delete(full(key));
    },
    list: (p, after, limit) => reader.list(full(p), after, limit),
    scan: (p, after, limit) => reader.scan(full(p), after, limit),
    async getJSON<T>(key: string) {
      const bytes = await view.get(key);
      return bytes && (JSON.parse(decoder.decode(bytes)) as T);
    },
    putJSON: (key, value) => view.put(key, encoder.encode(JSON.stringify(value))),
    transaction: (fn) =>
      transaction((tx) => fn(viewOver(tx, prefix, codec, (inner) => inner(tx)))),
    sub: (p) => viewOver(target, prefix + p, codec, transaction),
  };
  return view;
}
