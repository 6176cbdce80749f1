import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_CONFIG } from "../../src/server/config.js";
import { dropSchema, pgUrl, tempPgStore, uniqueSchema } from "../ha/pg.js";
import { devServer, type DevServer } from "../helpers/server.js";

const CONCURRENT = 32;

/** `latchkey_storage_transaction_retries_total` as sys/metrics reports it in Prometheus' format. */
async function retries(server: DevServer): Promise<number> {
  const res = await server.request("GET", "sys/metrics?format=prometheus");
  expect(res.status).toBe(200);
  const value = /^latchkey_storage_transaction_retries_total (\d+)$/m.exec(res.text)?.[1];
  if (value === undefined) throw new Error("sys/metrics has no latchkey_storage_transaction_retries_total");
  return Number(value);
}

describe("concurrent token creation on PostgreSQL", () => {
  const schema = uniqueSchema("retries");
  let server: DevServer;

  beforeAll(async () => {
    server = await devServer({
      ...structuredClone(DEFAULT_CONFIG),
      storage: { type: "postgres", url: pgUrl(), schema, poolSize: CONCURRENT },
    });
  }, 60_000);

  afterAll(async () => {
    await server?.close();
    await dropSchema(schema);
  });

  // A login's token is an orphan with a lease, written in one transaction that reads nothing:
  // concurrent ones never conflict. create-orphan makes the same writes.
  it(`creates ${CONCURRENT} orphan tokens with their leases at once without a serialization retry`, async () => {
    const before = await retries(server);
    const created = await Promise.all(
      Array.from({ length: CONCURRENT }, (_, i) =>
        server.request("POST", "auth/token/create-orphan", { body: { policies: ["default"], ttl: "1h", display_name: `app-${i}` } }),
      ),
    );
    expect(created.map((r) => r.status)).toEqual(Array(CONCURRENT).fill(200));
    const tokens = created.map((r) => r.json.auth.client_token as string);
    expect(new Set(tokens).size).toBe(CONCURRENT);
    // Every token and its lease were committed: each one authenticates and has its lease.
    for (const token of tokens) {
      const self = await server.request("GET", "auth/token/lookup-self", { token });
      expect(self.status).toBe(200);
    }
    const leases = await server.request("LIST", "sys/leases/lookup/auth/token/create-orphan");
    expect(leases.status).toBe(200);
    expect(leases.json.data.keys.length).toBeGreaterThanOrEqual(CONCURRENT);
    expect(await retries(server)).toBe(before);
  }, 120_000);

  it("counts a transaction that lost a serialization race", async () => {
    const store = server.core.barrier.view("sys/retries-test/");
    await store.putJSON("counter", { n: 0 });
    const before = await retries(server);
    // Read-modify-writes of one key collide under SERIALIZABLE: all succeed, some only after a retry.
    await Promise.all(
      Array.from({ length: 8 }, () =>
        store.transaction(async (tx) => {
          const current = (await tx.getJSON<{ n: number }>("counter"))!;
          await new Promise((resolve) => setTimeout(resolve, 20));
          await tx.putJSON("counter", { n: current.n + 1 });
        }),
      ),
    );
    expect(await store.getJSON("counter")).toEqual({ n: 8 });
    expect(await retries(server)).toBeGreaterThan(before);
  }, 120_000);
});

describe("the PostgreSQL store's transaction gate", () => {
  it("runs no more transactions at once than it is given, so one key's read-modify-writes need no retry", async () => {
    const { store, cleanup } = await tempPgStore({ concurrentTransactions: 1 });
    try {
      const key = "counter";
      await store.put(key, new Uint8Array([0]));
      let inFlight = 0;
      let most = 0;
      await Promise.all(
        Array.from({ length: 16 }, () =>
          store.transaction(async (tx) => {
            most = Math.max(most, ++inFlight);
            const current = (await tx.get(key))![0];
            await new Promise((resolve) => setTimeout(resolve, 5));
            await tx.put(key, new Uint8Array([current + 1]));
            inFlight--;
          }),
        ),
      );
      expect(await store.get(key)).toEqual(new Uint8Array([16]));
      expect(most).toBe(1);
      expect(store.transactionRetries()).toBe(0);
    } finally {
      await cleanup();
    }
  }, 120_000);

  it("answers 503 to a transaction that waited for a slot as long as for a connection", async () => {
    const { store, cleanup } = await tempPgStore({ concurrentTransactions: 1, connectTimeoutMs: 300 });
    try {
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      const holder = store.transaction(async (tx) => {
        await tx.put("held", new Uint8Array([1]));
        await held;
      });
      await expect(store.transaction((tx) => tx.put("queued", new Uint8Array([2])))).rejects.toMatchObject({
        status: 503,
        message: "postgresql storage failed: the database is unreachable",
      });
      release();
      await holder;
      expect(await store.get("queued")).toBeUndefined();
      await store.transaction((tx) => tx.put("after", new Uint8Array([3])));
      expect(await store.get("after")).toEqual(new Uint8Array([3]));
    } finally {
      await cleanup();
    }
  }, 120_000);
});
