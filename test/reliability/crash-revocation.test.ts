/**
 * SIGKILL of a real server (SQLite) at seeded random points while revocations
 * are in flight: short-TTL tokens and wrapping tokens expiring under the
 * expiration manager, a `sys/leases/revoke-prefix`, token tree revocations and
 * an orphan revocation. After each kill the stored state is audited; after the
 * restart the server must finish what was pending by itself (nothing left
 * half-revoked, nothing past its TTL), and a client's retry of the revocations
 * it never saw acknowledged must finish the rest. Nothing revoked comes back,
 * and tokens nobody revoked are untouched.
 */
import { describe, expect, it } from "vitest";
import { crashableServer, seededRandom, type StoredState } from "../helpers/crash.js";
import { api, type ServerProcess } from "../helpers/process.js";

const KILLS = 4;

interface Issued {
  token: string;
  accessor: string;
}

interface Tree {
  root: Issued;
  descendants: Issued[];
  /** The root's direct children, among the descendants. */
  children: Issued[];
  /** revoke-orphan: the descendants must outlive the root, as orphans. */
  orphan: boolean;
}

interface Round {
  trees: Tree[];
  prefixed: Issued[];
  /** Past their TTL once the round's revocations are done. */
  expiring: Issued[];
  wrapped: Issued[];
  /** Nobody revokes these. */
  kept: Issued[];
}

const auth = (res: { json: Record<string, any> }): Issued => ({ token: res.json.auth.client_token, accessor: res.json.auth.accessor });

async function mustCreate(address: string, path: string, token: string, body: Record<string, unknown>): Promise<Issued> {
  const res = await api(address, "POST", path, token, body);
  if (res.status !== 200) throw new Error(`${path} answered ${res.status}: ${res.text}`);
  return auth(res);
}

async function wrap(address: string, token: string, ttl: string): Promise<Issued> {
  const res = await fetch(`${address}/v1/sys/wrapping/wrap`, {
    method: "POST",
    headers: { "x-vault-token": token, "x-vault-wrap-ttl": ttl, "content-type": "application/json" },
    body: JSON.stringify({ value: "wrapped-in-a-crash-test" }),
  });
  const json = (await res.json()) as { wrap_info: { token: string; accessor: string } };
  expect(res.status).toBe(200);
  return { token: json.wrap_info.token, accessor: json.wrap_info.accessor };
}

/** A root token (policy creator) with three children, each with two children of its own. */
async function tree(address: string, root: string, orphan: boolean): Promise<Tree> {
  const top = await mustCreate(address, "auth/token/create", root, { policies: ["creator"], ttl: "1h" });
  const descendants: Issued[] = [];
  const children: Issued[] = [];
  for (let c = 0; c < 3; c++) {
    const child = await mustCreate(address, "auth/token/create", top.token, { policies: ["creator"], ttl: "50m" });
    descendants.push(child);
    children.push(child);
    for (let g = 0; g < 2; g++) descendants.push(await mustCreate(address, "auth/token/create", child.token, { policies: ["default"], ttl: "40m" }));
  }
  return { root: top, descendants, children, orphan };
}

async function population(address: string, root: string, random: ReturnType<typeof seededRandom>): Promise<Round> {
  const trees = [await tree(address, root, false), await tree(address, root, false), await tree(address, root, false), await tree(address, root, true)];
  const prefixed: Issued[] = [];
  for (let i = 0; i < 40; i++) prefixed.push(await mustCreate(address, "auth/token/create/prefixed", root, { ttl: "1h" }));
  const kept: Issued[] = [];
  for (let i = 0; i < 5; i++) kept.push(await mustCreate(address, "auth/token/create", root, { policies: ["default"], ttl: "1h" }));
  const wrapped: Issued[] = [];
  for (let i = 0; i < 15; i++) wrapped.push(await wrap(address, root, `${random.int(1, 3)}s`));
  // Last, so that they fall due around the kill: short-TTL tokens, and a short-lived parent whose expiry takes its children.
  const expiring: Issued[] = [];
  const parent = await mustCreate(address, "auth/token/create", root, { policies: ["creator"], ttl: "2s" });
  expiring.push(parent);
  for (let i = 0; i < 4; i++) expiring.push(await mustCreate(address, "auth/token/create", parent.token, { policies: ["default"], ttl: "1h" }));
  for (let i = 0; i < 50; i++) expiring.push(await mustCreate(address, "auth/token/create", root, { policies: ["default"], ttl: `${random.int(1, 3)}s` }));
  return { trees, prefixed, expiring, wrapped, kept };
}

/** The revocations a client asks for; each resolves true once acknowledged, false if the server died first. */
function revocations(address: string, root: string, round: Round): Promise<boolean>[] {
  const acknowledged = (p: Promise<{ status: number; text: string }>) =>
    p.then(
      (res) => {
        if (res.status !== 204 && res.status !== 200) throw new Error(`revocation answered ${res.status}: ${res.text}`);
        return true;
      },
      () => false,
    );
  return [
    acknowledged(api(address, "PUT", "sys/leases/revoke-prefix/auth/token/create/prefixed", root)),
    ...round.trees.map((t) =>
      acknowledged(api(address, "POST", t.orphan ? "auth/token/revoke-orphan" : "auth/token/revoke", root, { token: t.root.token })),
    ),
  ];
}

const present = (state: StoredState, accessors: Issued[]) => {
  const stored = new Set(state.tokens.map((t) => t.accessor));
  return accessors.filter((t) => stored.has(t.accessor));
};

/** Revoked and to stay revoked, once the round is over: everything but the kept tokens and the orphaned children. */
const revokedIn = (round: Round) => [
  ...round.trees.flatMap((t) => (t.orphan ? [t.root] : [t.root, ...t.descendants])),
  ...round.prefixed,
  ...round.expiring,
  ...round.wrapped,
];

async function until(what: string, timeoutMs: number, check: () => Promise<string[]>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = await check();
    if (left.length === 0) return;
    if (Date.now() > deadline) throw new Error(`${what}, still after ${timeoutMs} ms: ${left.slice(0, 5).join("; ")}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

describe("SIGKILL while revocations are in flight (SQLite)", () => {
  it("finishes every pending revocation after the restart and never brings a revoked token back", async () => {
    const random = seededRandom("crash-revocation");
    const crashable = await crashableServer("crash-revoke");
    const { root, audit } = crashable;
    let server: ServerProcess = crashable.server;
    expect((await api(server.address, "POST", "auth/token/roles/prefixed", root, { allowed_policies: ["default"] })).status).toBe(204);

    const gone: Issued[] = [];
    const kept: Issued[] = [];
    const orphaned: Issued[] = [];
    const orphanChildren: Issued[] = [];
    let kills = 0;
    let unacknowledged = 0;
    let checked = 0;
    try {
      for (let round = 0; round < KILLS; round++) {
        const r = await population(server.address, root, random);
        const inFlight = revocations(server.address, root, r);
        const killAt = random.int(20, 1500);
        await new Promise((resolve) => setTimeout(resolve, killAt));
        await server.stop("SIGKILL");
        kills++;
        const acked = await Promise.all(inFlight);
        unacknowledged += acked.filter((a) => !a).length;

        const afterKill = await audit();
        expect(afterKill.violations, `after kill ${kills} at ${killAt} ms`).toEqual([]);
        expect(present(afterKill, gone), "a revoked token came back").toEqual([]);
        if (acked[0]) expect(present(afterKill, r.prefixed), "revoke-prefix was acknowledged").toEqual([]);
        r.trees.forEach((t, i) => {
          if (acked[i + 1]) expect(present(afterKill, [t.root, ...(t.orphan ? [] : t.descendants)]), `tree ${i} was acknowledged`).toEqual([]);
        });

        server = await crashable.restart();
        // By itself the restarted server finishes what had begun: no token stays half-revoked
        // (tainted, with its subtree or leases still there), nothing outlives its TTL.
        await until("pending revocations did not complete", 60_000, async () => {
          const state = await audit();
          return [
            ...state.violations,
            ...state.tokens.filter((t) => t.numUses < 0).map((t) => `token ${t.accessor} (${t.path}) is still being revoked`),
            ...present(state, [...r.expiring, ...r.wrapped]).map((t) => `token ${t.accessor} outlived its TTL`),
          ];
        });
        // A tree whose revocation had begun is gone whole; one it never reached is whole.
        const state = await audit();
        r.trees.forEach((t, i) => {
          const left = present(state, [t.root, ...t.descendants]).length;
          if (t.orphan) expect(present(state, t.descendants), `orphan tree ${i}: the children live on`).toEqual(t.descendants);
          else expect([0, t.descendants.length + 1], `tree ${i}: ${left} tokens left`).toContain(left);
        });

        // The client retries what it never saw acknowledged; then everything of the round is gone.
        for (const again of revocations(server.address, root, r)) expect(await again).toBe(true);
        const done = await audit();
        expect(done.violations).toEqual([]);
        expect(present(done, revokedIn(r))).toEqual([]);
        gone.push(...revokedIn(r));
        kept.push(...r.kept);
        orphaned.push(...r.trees.filter((t) => t.orphan).flatMap((t) => t.descendants));
        orphanChildren.push(...r.trees.filter((t) => t.orphan).flatMap((t) => t.children));
        expect(present(done, [...kept, ...orphaned])).toEqual([...kept, ...orphaned]);
        checked += revokedIn(r).length;
      }

      // Through the API: revoked tokens stay refused and their wrapped responses gone; the others work.
      for (const t of gone) expect((await api(server.address, "GET", "auth/token/lookup-self", t.token)).status).toBe(403);
      for (const t of [...kept, ...orphaned]) {
        const self = await api(server.address, "GET", "auth/token/lookup-self", t.token);
        expect(self.status).toBe(200);
      }
      for (const t of orphanChildren) {
        const found = await api(server.address, "POST", "auth/token/lookup-accessor", root, { accessor: t.accessor });
        expect(found.json.data.orphan).toBe(true);
      }
      console.log(
        `crash-revocation: ${kills} kills survived with revocations in flight (${unacknowledged} revocation requests cut off); ` +
          `${checked} revoked tokens checked gone, ${kept.length + orphaned.length} untouched tokens checked live`,
      );
    } finally {
      await server.stop("SIGTERM");
    }
  }, 300_000);
});
