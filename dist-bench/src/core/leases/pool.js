/**
 * Runs `fn` over `items` with at most `limit` calls in flight, settling every
 * one (revocations talk to backends such as the Kubernetes API, which must not
 * see an unbounded burst).
 */
export async function settleWithLimit(items, limit, fn) {
    const results = new Array(items.length);
    let next = 0;
    const worker = async () => {
        while (next < items.length) {
            const i = next++;
            try {
                results[i] = { status: "fulfilled", value: await fn(items[i]) };
            }
            catch (reason) {
                results[i] = { status: "rejected", reason };
            }
        }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
    return results;
}
export const firstRejection = (results) => results.find((r) => r.status === "rejected");
