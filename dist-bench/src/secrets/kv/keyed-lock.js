export function createKeyedLock() {
    const tails = new Map();
    return {
        async run(key, fn) {
            const previous = tails.get(key) ?? Promise.resolve();
            const result = previous.then(fn);
            const tail = result.catch(() => undefined);
            tails.set(key, tail);
            try {
                return await result;
            }
            finally {
                if (tails.get(key) === tail)
                    tails.delete(key);
            }
        },
    };
}
