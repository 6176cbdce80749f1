/**
 * Which replica does the work that must happen once (the expiration manager's
 * revocations). With one server, or SQLite and memory storage, that server is
 * always the leader; on PostgreSQL the replicas elect one through an advisory lock.
 */
export interface Leadership {
  /** Whether this replica holds the leadership now. */
  isLeader(): boolean;
  /** Calls `fn` whenever leadership is gained or lost; returns the unsubscribe function. */
  onChange(fn: (leader: boolean) => void): () => void;
  /** Whether several replicas compete (Vault's `ha_enabled`). */
  readonly haEnabled: boolean;
}

/** The single-server leadership: always the leader, never changes. */
export const alwaysLeader: Leadership = {
  isLeader: () => true,
  onChange: () => () => undefined,
  haEnabled: false,
};

/**
 * Runs `start` while this replica leads and `stop` when it stops leading;
 * a stop waits for the work in flight before the next start may run.
 */
export function whileLeader(
  leadership: Leadership,
  start: () => void,
  stop: () => Promise<void>,
): () => Promise<void> {
  let chain = Promise.resolve();
  let active = false;
  const apply = (leader: boolean) => {
    chain = chain.then(async () => {
      if (leader && !active) {
        active = true;
        start();
      } else if (!leader && active) {
        active = false;
        await stop();
      }
    });
  };
  const unsubscribe = leadership.onChange(apply);
  apply(leadership.isLeader());
  return async () => {
    unsubscribe();
    apply(false);
    await chain;
  };
}
