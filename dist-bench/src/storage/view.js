export const identityCodec = {
    encode: (_k, v) => v,
    decode: (_k, v) => v,
};
const encoder = new TextEncoder();
const decoder = new TextDecoder();
/** A StorageView over `store` rooted at `prefix`, every value passed through `codec`. */
export function createView(store, prefix = "", codec = identityCodec) {
    return viewOver(store, prefix, codec, (fn) => store.transaction(fn));
}
function viewOver(target, prefix, codec, transaction) {
    if (prefix !== "" && !prefix.endsWith("/"))
        throw new Error(`storage view prefix must end with "/": ${prefix}`);
    const full = (key) => prefix + key;
    const reader = target;
    const view = {
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
        async getJSON(key) {
            const bytes = await view.get(key);
            return bytes && JSON.parse(decoder.decode(bytes));
        },
        putJSON: (key, value) => view.put(key, encoder.encode(JSON.stringify(value))),
        transaction: (fn) => transaction((tx) => fn(viewOver(tx, prefix, codec, (inner) => inner(tx)))),
        sub: (p) => viewOver(target, prefix + p, codec, transaction),
    };
    return view;
}
