/**
 * Serialises a store's transactions. Every transaction is a read-modify-write
 * (a token's use count, a renewal, a check-and-set): two that interleave would
 * both read the old value and both write, and one update would be lost. So a
 * transaction runs alone from its first read until its writes are queued for
 * commit; reads and writes outside transactions never wait for it.
 *
 * A transaction must not start another transaction on the same store from
 * inside its function: it would wait for itself. Use the `tx` it was given.
 */
export function createTxLock(): () => Promise<() => void> {
  let tail: Promise<void> = Promise.resolve();
  return () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const turn = tail.then(() => release);
    tail = tail.then(() => held);
    return turn;
  };
}
