import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { termOf } from "../../src/storage/aead.js";
import { api, type ServerProcess } from "../helpers/process.js";
import { pgQuery } from "../ha/pg.js";
import { initRoot, leaderOf, pgReplicas, poll, within } from "../ha/replicas.js";

const ADDR_A = "https://latchkey-a.latchkey.svc:8200";
const ADDR_B = "https://latchkey-b.latchkey.svc:8200";

/**
 * Two real `latchkey server` processes on one PostgreSQL schema: a keyring
 * rotated or a rate-limit quota changed through one is in force on the other
 * within a second, and each advertises its configured `api_addr` while it leads.
 */
describe("keyring, quotas and api_addr across replicas on postgresql", () => {
  const cluster = pgReplicas("kr");
  let a: ServerProcess;
  let b: ServerProcess;
  let root: string;
  afterAll(() => cluster.cleanup());
  beforeAll(async () => {
    a = await cluster.start({ LATCHKEY_API_ADDR: ADDR_A });
    root = await initRoot(a);
    b = await cluster.start({ LATCHKEY_API_ADDR: ADDR_B });
    expect((await api(a.address, "POST", "sys/mounts/kv", root, { type: "kv" })).status).toBe(204);
    await within(async () => "kv/" in ((await api(b.address, "GET", "sys/mounts", root)).json.data ?? {}), 5_000, "B to mount kv/");
  }, 60_000);

  const term = async (s: ServerProcess) => (await api(s.address, "GET", "sys/key-status", root)).json.term as number;
  /** The keyring term of the row a replica stored for `kv/<name>`. */
  const storedTerm = async (name: string) => {
    const { rows } = await pgQuery<{ value: Buffer }>(`SELECT value FROM ${cluster.schema}.kv WHERE key LIKE $1`, [`logical/%/${name}`]);
    expect(rows).toHaveLength(1);
    return termOf(rows[0].value);
  };
  const write = async (s: ServerProcess, name: string, v: string) =>
    expect((await api(s.address, "PUT", `kv/${name}`, root, { v })).status).toBe(204);
  const read = async (s: ServerProcess, name: string) => (await api(s.address, "GET", `kv/${name}`, root)).json.data?.v as string | undefined;

  it("picks up a keyring rotated on another replica within a second, and after a restart", async () => {
    await write(b, "before", "old-term");
    expect(await term(b)).toBe(1);
    expect(await storedTerm("before")).toBe(1);

    expect((await api(a.address, "PUT", "sys/rotate", root)).status).toBe(204);
    expect(await term(a)).toBe(2);
    const pickup = await within(async () => (await term(b)) === 2, 1_000, "B to use the rotated keyring");
    expect(pickup).toBeLessThan(1_000);
    console.log(`[pg-keyring] B used the rotated keyring ${pickup} ms after sys/rotate on A`);

    // A batch token is sealed under the active term: one made on A opens on B only with the new keyring.
    const batch = await api(a.address, "POST", "auth/token/create", root, { type: "batch", policies: ["default"], ttl: "10m" });
    expect(batch.status).toBe(200);
    const batchToken = batch.json.auth.client_token as string;
    expect((await api(b.address, "GET", "auth/token/lookup-self", batchToken)).status).toBe(200);

    // Each replica writes under the new term and reads what the other wrote under either.
    await write(a, "from-a", "new-term-a");
    await write(b, "from-b", "new-term-b");
    expect(await storedTerm("from-a")).toBe(2);
    expect(await storedTerm("from-b")).toBe(2);
    expect(await read(b, "from-a")).toBe("new-term-a");
    expect(await read(a, "from-b")).toBe("new-term-b");
    expect(await read(a, "before")).toBe("old-term");

    // Restarted, B unseals with the rotated keyring and serves everything.
    await b.stop("SIGTERM");
    b = await cluster.start({ LATCHKEY_API_ADDR: ADDR_B });
    expect(await term(b)).toBe(2);
    expect(await read(b, "before")).toBe("old-term");
    expect(await read(b, "from-a")).toBe("new-term-a");
    expect((await api(b.address, "GET", "auth/token/lookup-self", batchToken)).status).toBe(200);
    await write(b, "after-restart", "v");
    expect(await storedTerm("after-restart")).toBe(2);
  }, 60_000);

  it("enforces a rate-limit quota written or deleted on another replica within a second", async () => {
    // B has read the (empty) quotas before A writes one.
    expect((await api(b.address, "GET", "kv/before", root)).status).toBe(200);
    const quota = { path: "kv/", rate: 1, interval: "1h" };
    expect((await api(a.address, "POST", "sys/quotas/rate-limit/kv-limit", root, quota)).status).toBe(204);
    // B's bucket for this client holds one request: the second through B once it knows the quota is refused.
    const refused = await within(async () => (await api(b.address, "GET", "kv/before", root)).status === 429, 1_000, "B to enforce the quota");
    expect(refused).toBeLessThan(1_000);
    const limited = await api(b.address, "GET", "kv/before", root);
    expect(limited.status).toBe(429);
    expect(limited.json.errors).toEqual(["request path \"kv/before\": rate limit quota exceeded"]);
    expect((await api(b.address, "GET", "sys/quotas/rate-limit/kv-limit", root)).json.data).toMatchObject({ rate: 1, path: "kv/" });

    expect((await api(a.address, "DELETE", "sys/quotas/rate-limit/kv-limit", root)).status).toBe(204);
    const lifted = await within(async () => (await api(b.address, "GET", "kv/before", root)).status === 200, 1_000, "B to lift the quota");
    expect(lifted).toBeLessThan(1_000);
    console.log(`[pg-keyring] B enforced A's quota after ${refused} ms and lifted it after ${lifted} ms`);
    expect((await api(b.address, "GET", "sys/quotas/rate-limit?list=true", root)).json.data?.keys ?? []).toEqual([]);
  }, 60_000);

  it("names the leader by its api_addr on every replica, before and after a handover", async () => {
    const leader = await poll("one leader", () => leaderOf([a, b]), 10_000);
    const follower = leader === a ? b : a;
    const addrOf = (s: ServerProcess) => (s === a ? ADDR_A : ADDR_B);
    const advertised = async (s: ServerProcess) => (await api(s.address, "GET", "sys/leader")).json.leader_address as string;
    await within(async () => (await advertised(follower)) === addrOf(leader), 5_000, "the follower to name the leader's api_addr");
    expect(await advertised(leader)).toBe(addrOf(leader));

    await leader.stop("SIGKILL");
    await poll("the follower to lead", async () => ((await leaderOf([follower])) ? true : undefined), 10_000);
    expect(await advertised(follower)).toBe(addrOf(follower));
  }, 60_000);
});
