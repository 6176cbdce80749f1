import pg from "pg";
import type { Leadership } from "../core/ha/leadership.js";

export interface PgLeadershipOptions {
  /** The store's database URL; never logged. */
  url: string;
  /** The store's schema: replicas on one schema compete for one lock. */
  schema: string;
  /** How often a follower tries to take the lock, and the leader checks its connection (default 1000 ms). */
  pollMs?: number;
  onStatus?: (status: "leader" | "follower") => void;
}

/** The advisory-lock key of a schema: two int4 halves, a fixed namespace and the schema's hash. */
const LOCK_NAMESPACE = 0x6c6b6c64; // "lkld"

/**
 * Leader election on PostgreSQL: a session-level `pg_try_advisory_lock` held on
 * a dedicated connection. The lock dies with the connection, so a replica that
 * is killed (or loses the database) gives up the leadership at once, and a
 * follower polling every `pollMs` takes it over within about a second.
 */
export class PgLeadership implements Leadership {
  readonly haEnabled = true;
  private client: pg.Client | undefined;
  private leader = false;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly listeners = new Set<(leader: boolean) => void>();
  private readonly pollMs: number;

  constructor(private readonly opts: PgLeadershipOptions) {
    this.pollMs = opts.pollMs ?? 1000;
  }

  isLeader(): boolean {
    return this.leader;
  }

  onChange(fn: (leader: boolean) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Makes the first attempt and keeps polling; resolves after the first attempt, whatever its outcome. */
  async start(): Promise<void> {
    await this.poll();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    const client = this.client;
    this.client = undefined;
    this.set(false);
    // Ending the session releases the lock.
    await client?.end().catch(() => undefined);
  }

  private set(leader: boolean): void {
    if (leader === this.leader) return;
    this.leader = leader;
    this.opts.onStatus?.(leader ? "leader" : "follower");
    for (const fn of this.listeners) fn(leader);
  }

  private drop(client: pg.Client): void {
    if (this.client === client) this.client = undefined;
    client.end().catch(() => undefined);
    this.set(false);
  }

  private async connection(): Promise<pg.Client> {
    if (this.client) return this.client;
    const client = new pg.Client({
      connectionString: this.opts.url,
      application_name: "latchkey-leader",
      connectionTimeoutMillis: 5000,
      // A database that stops answering (a partition without a reset) must end the leadership too.
      query_timeout: 5000,
      keepAlive: true,
    });
    client.on("error", () => this.drop(client));
    client.on("end", () => this.drop(client));
    await client.connect();
    this.client = client;
    return client;
  }

  private async poll(): Promise<void> {
    if (this.closed) return;
    let client: pg.Client | undefined;
    try {
      client = await this.connection();
      if (this.leader) {
        // The lock is ours for as long as the session lives; a cheap query proves it does.
        await client.query("SELECT 1");
      } else {
        const { rows } = await client.query<{ locked: boolean }>(
          "SELECT pg_try_advisory_lock($1::int, hashtext($2)) AS locked",
          [LOCK_NAMESPACE, this.opts.schema],
        );
        if (this.closed) return;
        this.set(rows[0]?.locked === true);
      }
    } catch {
      // Unreachable database: fail closed, lead nothing until the lock is taken again.
      if (client) this.drop(client);
      else this.set(false);
    }
    if (!this.closed) {
      this.timer = setTimeout(() => void this.poll(), this.pollMs);
      this.timer.unref();
    }
  }
}
