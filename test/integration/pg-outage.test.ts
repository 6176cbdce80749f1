import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServerProcess } from "../helpers/process.js";
import { pgQuery, privatePgServer } from "../ha/pg.js";
import { initRoot, leaderOf, pgReplicas, poll, within } from "../ha/replicas.js";

const OUTAGE_MS = 10_000;
/** No request may take longer than this, outage or not (the store gives up on a connection after 5 s). */
const REQUEST_BOUND_MS = 12_000;
/** Both replicas serve again this soon after the database is back, without a restart. */
const RECOVERY_BOUND_MS = 15_000;

interface Answer {
  status: number;
  json: Record<string, unknown>;
  startedAt: number;
  ms: number;
}

/** One API call with a client-side timeout, so that a hang shows as status 0 rather than a stuck test. */
async function call(s: ServerProcess, method: string, path: string, token: string, body?: unknown): Promise<Answer> {
  const startedAt = Date.now();
  try {
    const res = await fetch(`${s.address}/v1/${path}`, {
      method,
      headers: { "x-vault-token": token, ...(body ? { "content-type": "application/json" } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(REQUEST_BOUND_MS + 8_000),
    });
    const text = await res.text();
    return { status: res.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : {}, startedAt, ms: Date.now() - startedAt };
  } catch {
    return { status: 0, json: {}, startedAt, ms: Date.now() - startedAt };
  }
}

/**
 * Two real `latchkey server` processes on a PostgreSQL server of this test's
 * own, under a steady stream of KV writes, reads and logins, while the database
 * is stopped (`pg_ctl stop -m fast`) for 10 s and started again.
 */
describe("two replicas through a 10 s postgresql outage", () => {
  let db: Awaited<ReturnType<typeof privatePgServer>>;
  let cluster: ReturnType<typeof pgReplicas>;
  beforeAll(async () => {
    db = await privatePgServer("outage");
    cluster = pgReplicas("out", "info", db.url);
  }, 120_000);
  afterAll(async () => {
    await cluster?.cleanup().catch(() => undefined);
    await db?.destroy();
  }, 60_000);

  it("answers 503 while the database is down, loses no acknowledged write, and serves again by itself", async () => {
    const a = await cluster.start();
    const root = await initRoot(a);
    const b = await cluster.start();
    const replicas = [a, b];
    expect((await call(a, "POST", "sys/mounts/secret", root, { type: "kv" })).status).toBe(204);
    await within(async () => (await call(b, "GET", "sys/mounts", root)).json["secret/"] !== undefined, 5_000, "B to mount secret/");

    let stopped = false;
    const answers: Answer[] = [];
    const acked = new Map<string, string>();
    let n = 0;
    const record = (res: Answer) => (answers.push(res), res);
    const worker = async (s: ServerProcess) => {
      while (!stopped) {
        const key = `k-${n++}`;
        const value = `${key}-${Date.now()}`;
        if (record(await call(s, "PUT", `secret/${key}`, root, { value })).status === 204) acked.set(key, value);
        const known = [...acked.keys()];
        if (known.length > 0) {
          const pick = known[Math.floor(Math.random() * known.length)];
          const read = record(await call(s, "GET", `secret/${pick}`, root));
          if (read.status === 200) expect((read.json.data as Record<string, string>).value).toBe(acked.get(pick));
        }
        record(await call(s, "POST", "auth/token/create", root, { ttl: "1h", policies: ["default"] }));
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    const stream = Promise.all(replicas.map(worker));
    await new Promise((resolve) => setTimeout(resolve, 3_000));

    await db.halt();
    const downAt = Date.now();
    // Without its lock session, no replica leads (fail closed): nobody revokes while the database is gone.
    const leaders = async () =>
      (await Promise.all(replicas.map(async (s) => (await call(s, "GET", "sys/leader", root)).json.is_self === true))).filter(Boolean).length;
    await within(async () => (await leaders()) === 0, OUTAGE_MS - 2_000, "every replica to give up the leadership");
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, downAt + OUTAGE_MS - Date.now())));
    const resumeAt = Date.now();
    await db.resume();
    const upAt = Date.now();
    // Each replica takes writes again, without a restart.
    const recovered = await Promise.all(
      replicas.map((s) =>
        within(async () => (await call(s, "PUT", "secret/probe", root, { value: "back" })).status === 204, RECOVERY_BOUND_MS, "the replica to serve again"),
      ),
    );
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    stopped = true;
    await stream;

    // While the database was down: 503 saying so, never a 500, never a hang.
    const during = answers.filter((r) => r.startedAt > downAt && r.startedAt + r.ms < resumeAt);
    const failures = during.filter((r) => r.status !== 200 && r.status !== 204);
    expect(failures.length).toBeGreaterThan(10);
    for (const r of failures) {
      expect(r.status).toBe(503);
      expect(r.json.errors).toEqual(["postgresql storage failed: the database is unreachable"]);
    }
    expect(answers.filter((r) => r.status === 500 || r.status === 0)).toEqual([]);
    expect(Math.max(...answers.map((r) => r.ms))).toBeLessThan(REQUEST_BOUND_MS);
    expect(Math.max(...recovered)).toBeLessThan(RECOVERY_BOUND_MS);
    // Before and after the outage the stream was served.
    expect(answers.filter((r) => r.startedAt < downAt - 1_000 && r.status < 300).length).toBeGreaterThan(10);
    expect(answers.filter((r) => r.startedAt > upAt + Math.max(...recovered) && r.status < 300).length).toBeGreaterThan(3);

    // Every acknowledged write, before, during or after, reads back through both replicas.
    for (const s of replicas) {
      for (const [key, value] of acked) {
        const res = await call(s, "GET", `secret/${key}`, root);
        expect((res.json.data as Record<string, string> | undefined)?.value, `${key} through ${s.address}`).toBe(value);
      }
    }

    // One replica holds the leader lock again, and lease expiry goes on.
    const leader = await poll("one leader again", () => leaderOf(replicas), 10_000);
    expect(replicas).toContain(leader);
    expect(await leaders()).toBe(1);
    const leasesOf = async () =>
      Number((await pgQuery<{ n: string }>(`SELECT count(*) AS n FROM ${cluster.schema}.kv WHERE key LIKE 'sys/expire/id/auth/token/create/%'`, [], db.url)).rows[0].n);
    const short = await Promise.all(replicas.map((s) => call(s, "POST", "auth/token/create", root, { ttl: "2s", policies: ["default"] })));
    expect(short.map((r) => r.status)).toEqual([200, 200]);
    // The stream's 1 h logins stay; the two 2 s leases are revoked by the leader when they expire.
    const withShort = await leasesOf();
    await within(async () => (await leasesOf()) === withShort - 2, 15_000, "the leader to revoke the two expired leases");
    for (const r of short) {
      const token = (r.json.auth as { client_token: string }).client_token;
      for (const s of replicas) expect((await call(s, "GET", "auth/token/lookup-self", token)).status).toBe(403);
    }

    console.log(
      `[pg-outage] answers ${answers.length} (${during.length} during the outage, ${failures.length} of them 503), ` +
        `acknowledged writes ${acked.size}, max latency ${Math.max(...answers.map((r) => r.ms))} ms, recovered after ${recovered.join(" / ")} ms`,
    );
  }, 180_000);
});
