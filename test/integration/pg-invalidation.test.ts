import { describe, expect, it } from "vitest";
import type { Invalidation } from "../../src/core/invalidation.js";
import { PgInvalidationBus } from "../../src/storage/pg-invalidation.js";
import { pgQuery, pgUrl, uniqueSchema } from "../ha/pg.js";

/** Polls until `check` holds (remote delivery is asynchronous), failing after `timeoutMs`. */
async function eventually(check: () => void, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      check();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
}

async function bus(schema: string) {
  const b = new PgInvalidationBus({ url: pgUrl(), schema });
  const seen: Invalidation[] = [];
  b.subscribe((ev) => seen.push(ev));
  await b.start();
  return { b, seen };
}

describe("invalidations across replicas over LISTEN/NOTIFY", () => {
  it("delivers a publish locally at once and to the other replicas on the same schema only, once each", async () => {
    const schema = uniqueSchema("inv");
    const a = await bus(schema);
    const b = await bus(schema);
    const elsewhere = await bus(uniqueSchema("inv"));
    a.b.publish({ kind: "token", id: "hmac-of-token" });
    expect(a.seen).toEqual([{ kind: "token", id: "hmac-of-token" }]);
    const started = Date.now();
    await eventually(() => expect(b.seen).toEqual([{ kind: "token", id: "hmac-of-token" }]));
    expect(Date.now() - started).toBeLessThan(1000);
    b.b.publish({ kind: "mounts" });
    await eventually(() => expect(a.seen).toEqual([{ kind: "token", id: "hmac-of-token" }, { kind: "mounts" }]));
    // Nothing crossed to another schema's channel, and nobody heard its own publish twice.
    expect(elsewhere.seen).toEqual([]);
    expect(b.seen).toEqual([{ kind: "token", id: "hmac-of-token" }, { kind: "mounts" }]);
    await Promise.all([a.b.close(), b.b.close(), elsewhere.b.close()]);
  });

  it("drops everything after a listening connection was cut, and listens again", async () => {
    const schema = uniqueSchema("inv");
    const a = await bus(schema);
    const b = await bus(schema);
    const { rows } = await pgQuery<{ n: number }>(
      "SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE application_name = 'latchkey-listen' AND query ILIKE $1",
      [`LISTEN "${b.b.channel}"%`],
    );
    // Both replicas' listening connections are cut (the database restarted, say).
    expect(rows[0].n).toBe(2);
    await eventually(() => expect(b.seen).toEqual([{ kind: "all" }]));
    await eventually(() => expect(a.seen).toEqual([{ kind: "all" }]));
    a.b.publish({ kind: "policy", name: "dev" });
    await eventually(() => expect(b.seen).toEqual([{ kind: "all" }, { kind: "policy", name: "dev" }]));
    await Promise.all([a.b.close(), b.b.close()]);
  });

  it("ignores payloads that are not latchkey invalidations", async () => {
    const schema = uniqueSchema("inv");
    const a = await bus(schema);
    await pgQuery("SELECT pg_notify($1, $2), pg_notify($1, $3)", [a.b.channel, "not json", JSON.stringify({ from: "x", ev: { kind: "drop-table" } })]);
    await pgQuery("SELECT pg_notify($1, $2)", [a.b.channel, JSON.stringify({ from: "x", ev: { kind: "keyring" } })]);
    await eventually(() => expect(a.seen).toEqual([{ kind: "keyring" }]));
    await a.b.close();
  });
});
