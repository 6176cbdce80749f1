import { randomUUID } from "node:crypto";
import pg from "pg";
import { LocalInvalidationBus, type Invalidation, type InvalidationBus } from "../core/invalidation.js";

export interface PgInvalidationOptions {
  /** The same database URL as the store's; never logged. */
  url: string;
  /** The store's schema: replicas on one schema share one channel. */
  schema: string;
  /** Called when the listening connection is lost or regained (for logs; no secrets in it). */
  onStatus?: (status: "listening" | "lost", err?: unknown) => void;
}

/** What travels in a NOTIFY payload: the sender, so that it ignores its own, and the invalidation. */
interface Message {
  from: string;
  ev: Invalidation;
}

const KINDS = new Set(["token", "policy", "mounts", "keyring", "kv-metadata", "quotas", "all"]);

/**
 * The invalidation bus of replicas sharing one PostgreSQL database. Publishing
 * delivers locally at once (as LocalInvalidationBus does) and sends a NOTIFY;
 * a dedicated connection LISTENs and delivers the other replicas' invalidations
 * locally. A replica whose listening connection broke may have missed some, so
 * when it is back it delivers `{kind: "all"}`: every cache is dropped.
 */
export class PgInvalidationBus implements InvalidationBus {
  readonly channel: string;
  private readonly local = new LocalInvalidationBus();
  private readonly id = randomUUID();
  private readonly notifier: pg.Pool;
  private listener: pg.Client | undefined;
  private closed = false;
  private connectedOnce = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryDelayMs = 100;

  constructor(private readonly opts: PgInvalidationOptions) {
    this.channel = `latchkey_${opts.schema}`;
    this.notifier = new pg.Pool({ connectionString: opts.url, max: 2, connectionTimeoutMillis: 5000, application_name: "latchkey-notify" });
    this.notifier.on("error", () => undefined);
  }

  /** Connects the listening connection; resolves once it listens or the first attempt failed (it keeps retrying). */
  async start(): Promise<void> {
    await this.connect();
  }

  publish(ev: Invalidation): Promise<void> {
    this.local.deliver(ev);
    const payload = JSON.stringify({ from: this.id, ev } satisfies Message);
    // A NOTIFY that fails means the database is unreachable; the other replicas'
    // listening connections break too and they drop everything when back.
    return this.notifier.query("SELECT pg_notify($1, $2)", [this.channel, payload]).then(
      () => undefined,
      () => undefined,
    );
  }

  subscribe(fn: (ev: Invalidation) => void): () => void {
    return this.local.subscribe(fn);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    const listener = this.listener;
    this.listener = undefined;
    await Promise.all([listener?.end().catch(() => undefined), this.notifier.end()]);
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client({ connectionString: this.opts.url, application_name: "latchkey-listen", connectionTimeoutMillis: 5000 });
    let lost = false;
    const onLost = (err?: unknown) => {
      if (lost) return;
      lost = true;
      if (this.listener === client) this.listener = undefined;
      client.end().catch(() => undefined);
      if (this.closed) return;
      this.opts.onStatus?.("lost", err);
      this.retryTimer = setTimeout(() => void this.connect(), this.retryDelayMs);
      this.retryDelayMs = Math.min(this.retryDelayMs * 2, 5000);
    };
    client.on("error", onLost);
    client.on("end", () => onLost());
    client.on("notification", (msg) => {
      if (msg.channel === this.channel && msg.payload) this.receive(msg.payload);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${pg.escapeIdentifier(this.channel)}`);
    } catch (err) {
      onLost(err);
      return;
    }
    if (this.closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.listener = client;
    this.retryDelayMs = 100;
    this.opts.onStatus?.("listening");
    // Whatever was published while this replica was not listening is unknown.
    if (this.connectedOnce) this.local.deliver({ kind: "all" });
    this.connectedOnce = true;
  }

  private receive(payload: string): void {
    let msg: Message;
    try {
      msg = JSON.parse(payload) as Message;
    } catch {
      return;
    }
    if (msg.from === this.id || !msg.ev || !KINDS.has(msg.ev.kind)) return;
    this.local.deliver(msg.ev);
  }
}
