/**
 * SIGKILL of a real server (SQLite) at seeded random points while clients
 * create tokens with leases: root children, children of children, use-limited,
 * periodic and orphan tokens. After every kill the stored state is audited
 * (no token without its lease, no lease without its token, every index entry
 * whole) and, after the restart, every acknowledged token is there as created.
 */
import { describe, expect, it } from "vitest";
import { crashableServer, seededRandom } from "../helpers/crash.js";
import { api, type ServerProcess } from "../helpers/process.js";

const KILLS = 6;
const WORKERS = 12;

type Kind = "plain" | "use-limited" | "periodic" | "orphan" | "creator" | "child";

interface Issued {
  kind: Kind;
  token: string;
  accessor: string;
  parentAccessor?: string;
}

/** What each kind asks for, and as whom. */
function request(kind: Kind, root: string, parent?: Issued): { path: string; token: string; body: Record<string, unknown> } {
  switch (kind) {
    case "plain":
      return { path: "auth/token/create", token: root, body: { policies: ["default"], ttl: "1h" } };
    case "use-limited":
      return { path: "auth/token/create", token: root, body: { policies: ["default"], ttl: "1h", num_uses: 5 } };
    case "periodic":
      return { path: "auth/token/create", token: root, body: { policies: ["default"], period: "30m" } };
    case "orphan":
      return { path: "auth/token/create-orphan", token: root, body: { policies: ["default"], ttl: "1h" } };
    case "creator":
      return { path: "auth/token/create", token: root, body: { policies: ["creator"], ttl: "2h" } };
    case "child":
      return { path: "auth/token/create", token: parent!.token, body: { policies: ["creator"], ttl: "20m" } };
  }
}

describe("SIGKILL during streams of token creation (SQLite)", () => {
  it("keeps every acknowledged token with its lease, and no lease or index entry without its token", async () => {
    const random = seededRandom("crash-tokens");
    const crashable = await crashableServer("crash-tokens");
    const { root } = crashable;
    let server: ServerProcess = crashable.server;

    const issued: Issued[] = [];
    const creators: Issued[] = [];
    let kills = 0;
    try {
      for (let round = 0; round < KILLS; round++) {
        const address = server.address;
        let stop = false;
        let acknowledgedOne = () => {};
        const firstAck = new Promise<void>((resolve) => (acknowledgedOne = resolve));
        const workers = Array.from({ length: WORKERS }, async () => {
          while (!stop) {
            const kinds: Kind[] = creators.length > 0 ? ["plain", "use-limited", "periodic", "orphan", "creator", "child"] : ["creator"];
            const kind = random.pick(kinds);
            const parent = kind === "child" ? random.pick(creators) : undefined;
            const r = request(kind, root, parent);
            const res = await api(address, "POST", r.path, r.token, r.body).catch(() => undefined);
            if (!res) return; // the server died under the request
            if (res.status !== 200) throw new Error(`${kind} answered ${res.status}: ${res.text}`);
            const entry: Issued = { kind, token: res.json.auth.client_token, accessor: res.json.auth.accessor, parentAccessor: parent?.accessor };
            issued.push(entry);
            acknowledgedOne();
            if (kind === "creator" || kind === "child") creators.push(entry);
          }
        });
        // The kill point is counted from the round's first acknowledged token: a slow start on a loaded machine still gets a stream to cut.
        // A worker that fails (a refused creation) ends the test here rather than leaving it waiting.
        await Promise.race([firstAck, Promise.all(workers)]);
        const killAt = random.int(0, 1000);
        await new Promise((resolve) => setTimeout(resolve, killAt));
        await server.stop("SIGKILL");
        kills++;
        stop = true;
        await Promise.all(workers);

        const state = await crashable.audit();
        expect(state.violations, `after kill ${kills} at ${killAt} ms`).toEqual([]);
        const byAccessor = new Map(state.tokens.map((t) => [t.accessor, t]));
        for (const t of issued) {
          const stored = byAccessor.get(t.accessor);
          expect(stored, `${t.kind} token ${t.accessor} was acknowledged but is missing after kill ${kills}`).toBeDefined();
          expect(stored!.leaseId, `${t.kind} token ${t.accessor} has a lease`).toBeDefined();
          if (t.kind === "use-limited") expect(stored!.numUses).toBe(5);
          if (t.kind === "periodic") expect(stored!.period).toBe(1800);
          if (t.kind === "orphan") expect(stored!.orphan).toBe(true);
          if (t.parentAccessor) expect(stored!.parentKey).toBe(byAccessor.get(t.parentAccessor)!.key);
        }
        server = await crashable.restart();
      }

      // Through the API too: every acknowledged token is found by its accessor and still authenticates.
      expect(issued.length).toBeGreaterThanOrEqual(KILLS);
      const queue = [...issued];
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          for (let t = queue.pop(); t; t = queue.pop()) {
            const found = await api(server.address, "POST", "auth/token/lookup-accessor", root, { accessor: t.accessor });
            expect(found.status, `${t.kind} ${t.accessor}`).toBe(200);
            // A use-limited token would spend a use on lookup-self; its accessor lookup is enough.
            if (t.kind === "use-limited") expect(found.json.data.num_uses).toBe(5);
            else expect((await api(server.address, "GET", "auth/token/lookup-self", t.token)).status).toBe(200);
          }
        }),
      );
      const leases = await api(server.address, "GET", "sys/leases/lookup/auth/token/create?list=true", root);
      console.log(`crash-tokens: ${kills} kills survived, ${issued.length} acknowledged tokens checked after each, ${(leases.json.data?.keys ?? []).length} leases under auth/token/create/`);
    } finally {
      await server.stop("SIGTERM");
    }
  }, 180_000);
});
