import { afterEach, describe, expect, it } from "vitest";
import { PgLeadership } from "../../src/storage/pg-lock.js";
import { pgQuery, pgUrl, uniqueSchema } from "../ha/pg.js";
import { poll } from "../ha/replicas.js";

/** The advisory lock on the real PostgreSQL: one holder per schema, handed over when it goes. */
describe("PgLeadership", () => {
  const opened: PgLeadership[] = [];
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((l) => l.close()));
  });
  const open = async (schema: string) => {
    const leadership = new PgLeadership({ url: pgUrl(), schema, pollMs: 100 });
    opened.push(leadership);
    await leadership.start();
    return leadership;
  };

  it("elects exactly one of several on a schema, and one per schema", async () => {
    const schema = uniqueSchema("lock");
    const all = await Promise.all([open(schema), open(schema), open(schema)]);
    await poll("a leader", async () => (all.some((l) => l.isLeader()) ? true : undefined), 5_000);
    expect(all.filter((l) => l.isLeader())).toHaveLength(1);
    // Another schema is another set of replicas with its own leader.
    const other = await open(uniqueSchema("lock"));
    await poll("the other schema's leader", async () => (other.isLeader() ? true : undefined), 5_000);
    expect(all.filter((l) => l.isLeader())).toHaveLength(1);
  });

  it("hands over when the leader closes, and when its connection is killed", async () => {
    const schema = uniqueSchema("lock");
    const changes: boolean[] = [];
    const first = await open(schema);
    first.onChange((leader) => changes.push(leader));
    await poll("the first leader", async () => (first.isLeader() ? true : undefined), 5_000);
    const second = await open(schema);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(second.isLeader()).toBe(false);

    // The database ends the leader's session, as when its node dies: the lock goes with it.
    const { rowCount } = await pgQuery(
      `SELECT pg_terminate_backend(pid) FROM pg_locks
        WHERE locktype = 'advisory' AND granted AND objsubid = 2
          AND objid::bigint = (hashtext($1)::bigint + 4294967296) % 4294967296`,
      [schema],
    );
    expect(rowCount).toBe(1);
    await poll("the first to step down", async () => (!first.isLeader() ? true : undefined), 5_000);
    await poll("the second to lead", async () => (second.isLeader() || first.isLeader() ? true : undefined), 5_000);
    expect([first, second].filter((l) => l.isLeader())).toHaveLength(1);
    expect(changes[0]).toBe(false);

    const leader = first.isLeader() ? first : second;
    const follower = leader === first ? second : first;
    await leader.close();
    await poll("the follower to lead", async () => (follower.isLeader() ? true : undefined), 5_000);
  });
});
