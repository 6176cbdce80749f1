import { randomBytes } from "node:crypto";
import type { StorageView } from "../../storage/types.js";

/** This server process: every intent it writes names it, so that a later run knows the writer is gone. */
export const BOOT_ID = randomBytes(9).toString("hex");

/** With replicas on one database, each one's engine bumps its counter this often. */
export const HEARTBEAT_MS = 10_000;
/** A replica whose counter has not moved for this long, by the reader's own clock, has died. */
export const STALE_MS = 30_000;

/**
 * Refs of the creds requests this process is running now. The reconciler
 * skips them; a `pending` intent of this process that is not here belongs to
 * a request that has ended, so its objects are orphans at once.
 */
export const issuing = new Set<string>();

interface BootRecord {
  beat: number;
  /** Unix ms, by the writer's clock: for operators only, never compared. */
  at: number;
}

const bootKey = (boot: string) => `boots/${boot}`;

/**
 * Whether the process that wrote an intent is still alive. With storage no
 * other process shares (SQLite, memory), every other boot id is a previous
 * run of this server, dead. With replicas (PostgreSQL), each replica bumps a
 * counter under `boots/<id>` every HEARTBEAT_MS; a writer is dead once its
 * record is gone or its counter has stood still for STALE_MS as measured here,
 * so clock skew between replicas does not matter.
 */
export function createLiveness(deps: { storage: StorageView; shared: boolean; boot: string; now: () => number }) {
  const { storage, shared, boot, now } = deps;
  let beat = 0;
  const seen = new Map<string, { beat: number; since: number }>();

  return {
    boot,
    shared,
    /** Records this process as alive (replicas only; a lone server needs no record). */
    async heartbeat(): Promise<void> {
      if (shared) await storage.putJSON(bootKey(boot), { beat: ++beat, at: now() } satisfies BootRecord);
    },
    /** true = dead, false = alive or not known yet (watched until STALE_MS has passed). */
    async dead(writer: string): Promise<boolean> {
      if (writer === boot) return false;
      if (!shared) return true;
      const record = await storage.getJSON<BootRecord>(bootKey(writer));
      if (!record) return true;
      const last = seen.get(writer);
      if (!last || last.beat !== record.beat) {
        seen.set(writer, { beat: record.beat, since: now() });
        return false;
      }
      return now() - last.since >= STALE_MS;
    },
    /** Forgets the records of replicas found dead, so that they do not pile up. */
    async sweep(): Promise<void> {
      if (!shared) return;
      for (const writer of await storage.list("boots/")) {
        if (writer !== boot && (await this.dead(writer))) {
          await storage.delete(bootKey(writer));
          seen.delete(writer);
        }
      }
    },
  };
}

export type Liveness = ReturnType<typeof createLiveness>;
