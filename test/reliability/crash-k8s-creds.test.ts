/**
 * SIGKILL of the server while it issues and revokes Kubernetes credentials,
 * against the real kube-apiserver and a real server process on SQLite. A
 * seeded schedule (LATCHKEY_CRASH_SEED, LATCHKEY_CRASH_KILLS) decides, per
 * cycle, which credentials are asked for, which are revoked, and after how
 * many milliseconds the server is killed. After each restart, once the
 * reconciler has run: no latchkey-labelled object lives without a lease,
 * every acknowledged credential still has its lease and all its objects,
 * and every revocation that was sent has deleted its objects.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  cleanup,
  createServiceAccount,
  identityWith,
  kubectl,
  kubeTestEnv,
  objectsLabelled,
  SA_REQUEST,
  uniqueName,
  uniqueNamespace,
} from "../helpers/k8s.js";
import { api, autoSealConfig, startServerProcess, type ServerProcess } from "../helpers/process.js";

const SEED = Number(process.env.LATCHKEY_CRASH_SEED ?? 1111);
const KILLS = Number(process.env.LATCHKEY_CRASH_KILLS ?? 51);
/** Servers killed side by side, each with its own share of the schedule. */
const LANES = 3;
/** How long the reconciler may take after a restart to leave nothing orphaned (its grace for a request that died is 120 s). */
const SETTLE_MS = 30_000;

/**
 * Each role's mode and the resources one lease of it creates. The fixed and
 * predefined roles keep credentials prepared: a kill also catches those made
 * ahead, or being made, which the next run must delete.
 */
const ROLES: Record<string, { body: (ns: string) => Record<string, unknown>; creds?: Record<string, unknown>; resources: string[] }> = {
  fixed: { body: (ns) => ({ service_account_name: "app", allowed_kubernetes_namespaces: [ns], prepared_credentials: 2 }), resources: ["secrets"] },
  predefined: {
    body: (ns) => ({ kubernetes_role_name: "view", kubernetes_role_type: "ClusterRole", allowed_kubernetes_namespaces: [ns], prepared_credentials: 1 }),
    resources: ["rolebindings", "serviceaccounts"],
  },
  rules: {
    body: (ns) => ({ generated_role_rules: JSON.stringify({ rules: [{ apiGroups: [""], resources: ["pods"], verbs: ["list"] }] }), allowed_kubernetes_namespaces: [ns] }),
    resources: ["rolebindings", "roles", "serviceaccounts"],
  },
  "cluster-rules": {
    body: (ns) => ({
      generated_role_rules: "rules:\n- apiGroups: ['']\n  resources: [pods]\n  verbs: [get]\n",
      kubernetes_role_type: "ClusterRole",
      allowed_kubernetes_namespaces: [ns],
    }),
    creds: { cluster_role_binding: true },
    resources: ["clusterrolebindings", "clusterroles", "serviceaccounts"],
  },
  yaml: {
    body: (ns) => ({
      role_binding_yaml: [
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: crash-role}\nrules:\n- apiGroups: ['']\n  resources: [configmaps]\n  verbs: [list]",
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: crash-role}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: crash-role}",
      ].join("\n---\n"),
      allowed_kubernetes_namespaces: [ns],
    }),
    resources: ["rolebindings", "roles", "serviceaccounts"],
  },
};
const ROLE_NAMES = Object.keys(ROLES);

/**
 * One cycle of the schedule: the credentials asked for, how many live ones
 * are revoked, and when the kill comes, as a multiple of how long a batch of
 * creds requests took on this machine (measured at setup): from before the
 * first request arrives to after the last has been answered.
 */
const CYCLE = fc.record({
  creds: fc.array(fc.constantFrom(...ROLE_NAMES), { minLength: 1, maxLength: 4 }),
  revokes: fc.integer({ min: 0, max: 3 }),
  killAt: fc.double({ min: 0, max: 1.5, noNaN: true }),
});
type Cycle = ReturnType<typeof CYCLE.generate>["value"];

interface Credential {
  role: string;
  leaseId: string;
  /** The name every object of the lease shares (the ServiceAccount's, or the bound Secret's in fixed mode). */
  name: string;
  /** A revocation was sent; `revoked` once it was acknowledged. */
  revoking?: boolean;
  revoked?: boolean;
}

/** The name of the Secret a fixed-mode token is bound to, from the token's own claims. */
function boundSecretName(token: string): string {
  const claims = JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString("utf8")) as { "kubernetes.io"?: { secret?: { name?: string } } };
  const name = claims["kubernetes.io"]?.secret?.name;
  if (!name) throw new Error("a fixed-mode token that is not bound to a Secret");
  return name;
}

/** Figures of a run, summed over its lanes. */
const figures = { kills: 0, restarts: 0, acknowledged: 0, revocationsSent: 0, revocationsAcknowledged: 0, objectsChecked: 0, orphansDeleted: {} as Record<string, number> };

/**
 * One server on its own SQLite file with the engine at `kube/` and one role
 * per mode, whose objects carry a label of the lane's own: lanes run side by
 * side, so that the many restarts take less time than one after another.
 */
function lane(index: number, ns: string) {
  const run = uniqueName(`crash-${index}`);
  const selector = `latchkey.io/lease,crash-run=${run}`;
  const dir = mkdtempSync(join(tmpdir(), "latchkey-k8s-crash-"));
  const config = autoSealConfig(dir);
  // Info level: the reconciler's clean-ups are counted from the log.
  writeFileSync(config, readFileSync(config, "utf8").replace("log_level: warn", "log_level: info"));
  let root = "";
  let server: ServerProcess | undefined;
  /** Milliseconds a batch of creds requests takes here, the unit of the schedule's kill times. */
  let issueMs = 0;
  const credentials: Credential[] = [];

  /** Labelled objects by the name they share: `name` → sorted resources. */
  async function census(): Promise<Map<string, string[]>> {
    const byName = new Map<string, string[]>();
    for (const entry of await objectsLabelled(selector)) {
      const [resource, , name] = entry.split("/");
      byName.set(name, [...(byName.get(name) ?? []), resource].sort());
    }
    return byName;
  }

  const start = async () => {
    server = await startServerProcess(["--config", config], {}, { startTimeoutMs: 120_000 });
    // 200: unsealed; 501: not initialized yet (the first start).
    const ready = async () => [200, 501].includes((await api(server!.address, "GET", "sys/health").catch(() => ({ status: 0 }))).status);
    for (let i = 0; !(await ready()); i++) {
      if (i > 600) throw new Error(`the server did not become ready:\n${server.output()}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  const call = (method: string, path: string, body?: unknown) => api(server!.address, method, path, root, body);
  const leaseIds = async (role: string): Promise<string[]> => {
    const res = await call("LIST", `sys/leases/lookup/kube/creds/${role}/`);
    return ((res.json.data?.keys as string[] | undefined) ?? []).map((key) => `kube/creds/${role}/${key}`);
  };

  /**
   * What must hold once the reconciler has run after a restart. Leases of
   * requests that died unacknowledged (their answer was lost, but the lease was
   * stored) are the only live leases the test cannot name: their objects may
   * exist, no more of them than there are such leases.
   */
  async function invariants(): Promise<{ problems: string[]; objects: number }> {
    const objects = await census();
    const problems: string[] = [];
    const known = new Set(credentials.map((c) => c.name));
    for (const c of credentials) {
      const found = objects.get(c.name);
      if (c.revoked) {
        if (found) problems.push(`${c.role} ${c.name}: revocation acknowledged, but ${found.join(",")} still exist`);
      } else if (c.revoking) {
        // Cut off: not begun (all there) or finished by the reconciler (none), never half done.
        if (found && JSON.stringify(found) !== JSON.stringify(ROLES[c.role].resources)) {
          problems.push(`${c.role} ${c.name}: revocation cut off halfway, ${found.join(",")} left`);
        }
      } else if (JSON.stringify(found) !== JSON.stringify(ROLES[c.role].resources)) {
        problems.push(`${c.role} ${c.name}: acknowledged, but has ${found?.join(",") ?? "no objects"}`);
      }
    }
    const live = new Set((await Promise.all(ROLE_NAMES.map(leaseIds))).flat());
    for (const c of credentials) {
      if (c.revoked && live.has(c.leaseId)) problems.push(`${c.leaseId}: revocation acknowledged, lease still there`);
      if (!c.revoking && !live.has(c.leaseId)) problems.push(`${c.leaseId}: acknowledged, but its lease is gone`);
    }
    const unnamedLeases = [...live].filter((id) => !credentials.some((c) => c.leaseId === id)).length;
    const unnamedObjects = [...objects.keys()].filter((name) => !known.has(name));
    if (unnamedObjects.length > unnamedLeases) {
      problems.push(`${unnamedObjects.length} unacknowledged credentials have objects, but only ${unnamedLeases} have a lease: ${unnamedObjects.join(", ")}`);
    }
    return { problems, objects: [...objects.values()].reduce((n, r) => n + r.length, 0) };
  }

  async function settled(): Promise<void> {
    const deadline = Date.now() + SETTLE_MS;
    let check = await invariants();
    while (check.problems.length > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      check = await invariants();
    }
    expect(check.problems, `lane ${index}, after restart ${figures.restarts} (seed ${SEED})`).toEqual([]);
    figures.objectsChecked += check.objects;
  }

  /**
   * Tidies up as a client would: finishes the revocations that were cut off
   * (204, nothing left to delete) and revokes the leases of unacknowledged
   * credentials. Afterwards no labelled object may be left that the test cannot name.
   */
  async function tidy(): Promise<void> {
    for (const c of credentials.filter((c) => c.revoking && !c.revoked)) {
      expect((await call("PUT", "sys/leases/revoke", { lease_id: c.leaseId })).status).toBe(204);
      c.revoked = true;
    }
    for (const id of (await Promise.all(ROLE_NAMES.map(leaseIds))).flat()) {
      if (!credentials.some((c) => c.leaseId === id)) expect((await call("PUT", "sys/leases/revoke", { lease_id: id })).status).toBe(204);
    }
    const known = new Set(credentials.map((c) => c.name));
    expect([...(await census()).keys()].filter((name) => !known.has(name)), "objects without a lease").toEqual([]);
    credentials.splice(0, credentials.length, ...credentials.filter((c) => !c.revoked));
  }

  /** Asks for `role`'s credentials; records them once the answer has arrived whole. */
  async function issue(role: string): Promise<void> {
    const res = await call("POST", `kube/creds/${role}`, ROLES[role].creds ?? {}).catch(() => undefined);
    if (res?.status !== 200) return;
    const token = res.json.data.service_account_token as string;
    const name = role === "fixed" ? boundSecretName(token) : (res.json.data.service_account_name as string);
    credentials.push({ role, leaseId: res.json.lease_id as string, name });
    figures.acknowledged++;
  }

  async function revoke(c: Credential): Promise<void> {
    c.revoking = true;
    figures.revocationsSent++;
    const res = await call("PUT", "sys/leases/revoke", { lease_id: c.leaseId }).catch(() => undefined);
    if (res?.status === 204) {
      c.revoked = true;
      figures.revocationsAcknowledged++;
    }
  }

  /**
   * Waits for the kill: in half the cycles `killAt` × the batch's time; in the
   * others until an object of a request not yet answered has appeared in the
   * cluster (mid-issue or mid-preparation, where a crash leaves objects
   * behind), then `killAt` × 200 ms more. `before`: the names that existed
   * when the cycle began (credentials prepared after the previous answers).
   */
  async function killPoint(killAt: number, before: Set<string>): Promise<void> {
    if (killAt >= 0.75) return new Promise((resolve) => setTimeout(resolve, killAt * issueMs));
    const deadline = Date.now() + 1.5 * issueMs;
    const known = new Set([...before, ...credentials.map((c) => c.name)]);
    while (Date.now() < deadline && [...(await census()).keys()].every((name) => known.has(name))) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await new Promise((resolve) => setTimeout(resolve, killAt * 200));
  }

  /** Counts the reconciler's clean-ups in the server's log, by the state the intent was left in. */
  function countOrphans(output: string): void {
    for (const line of output.split("\n")) {
      if (!line.includes("deleted orphaned kubernetes objects")) continue;
      let state = "unknown";
      try {
        state = (JSON.parse(line) as { state?: string }).state ?? state;
      } catch {
        // A line cut off by the kill.
      }
      figures.orphansDeleted[state] = (figures.orphansDeleted[state] ?? 0) + 1;
    }
  }

  return {
    /** Starts the first server, initialises it and writes the target and roles. */
    async setup(jwt: string) {
      await start();
      const init = await api(server!.address, "PUT", "sys/init", undefined, { secret_shares: 1, secret_threshold: 1 });
      expect(init.status).toBe(200);
      root = init.json.root_token as string;
      expect((await call("POST", "sys/mounts/kube", { type: "kubernetes" })).status).toBe(204);
      const { host, caPem } = kubeTestEnv();
      expect((await call("POST", "kube/config", { kubernetes_host: host, kubernetes_ca_cert: caPem, service_account_jwt: jwt })).status).toBe(204);
      for (const [name, role] of Object.entries(ROLES)) {
        const res = await call("POST", `kube/roles/${name}`, { ...role.body(ns), token_default_ttl: "1h", extra_labels: { "crash-run": run } });
        expect(res.status, res.text).toBe(204);
      }
      // One credential of each role at once, as a cycle asks for them.
      const started = Date.now();
      const answers = await Promise.all(ROLE_NAMES.map((role) => call("POST", `kube/creds/${role}`, ROLES[role].creds ?? {})));
      issueMs = Date.now() - started;
      for (const res of answers) {
        expect(res.status, res.text).toBe(200);
        expect((await call("PUT", "sys/leases/revoke", { lease_id: res.json.lease_id })).status).toBe(204);
      }
    },
    /** Fires the cycle's requests, kills the server, restarts it and checks what it left. */
    async cycle(cycle: Cycle) {
      const live = credentials.filter((c) => !c.revoking);
      const before = new Set((await census()).keys());
      const requests = [...cycle.creds.map(issue), ...live.slice(0, cycle.revokes).map(revoke)];
      await killPoint(cycle.killAt, before);
      const output = server!.output();
      await server!.stop("SIGKILL");
      countOrphans(output);
      figures.kills++;
      await Promise.all(requests);
      await start();
      figures.restarts++;
      await settled();
      await tidy();
    },
    /** Revokes everything left; real kubectl then finds nothing labelled. */
    async finish() {
      countOrphans(server!.output());
      for (const c of credentials) expect((await call("PUT", "sys/leases/revoke", { lease_id: c.leaseId })).status).toBe(204);
      const left = await Promise.all([
        kubectl(["get", "serviceaccounts,secrets,roles,rolebindings", "-n", ns, "-l", selector, "-o", "name"]),
        kubectl(["get", "clusterroles,clusterrolebindings", "-l", selector, "-o", "name"]),
      ]);
      expect(left.join("").trim()).toBe("");
    },
    stop: () => server?.stop("SIGTERM"),
    issueMs: () => issueMs,
  };
}

describe("SIGKILL while issuing and revoking Kubernetes credentials", () => {
  const lanes: ReturnType<typeof lane>[] = [];

  beforeAll(async () => {
    const ns = await uniqueNamespace();
    await createServiceAccount(ns, "app");
    const jwt = await identityWith(ns, "latchkey-crash", SA_REQUEST);
    for (let i = 0; i < LANES; i++) lanes.push(lane(i, ns));
    await Promise.all(lanes.map((l) => l.setup(jwt)));
  }, 120_000);

  afterAll(async () => {
    await Promise.all(lanes.map((l) => l.stop()));
    await cleanup();
  });

  it(`survives ${KILLS} kills with nothing orphaned and nothing acknowledged lost`, async () => {
    console.log(`crash-k8s-creds: seed ${SEED} (LATCHKEY_CRASH_SEED), ${KILLS} kills (LATCHKEY_CRASH_KILLS) in ${LANES} lanes`);
    const schedule = fc.sample(CYCLE, { seed: SEED, numRuns: KILLS });
    await Promise.all(
      lanes.map(async (l, i) => {
        for (const cycle of schedule.filter((_, n) => n % LANES === i)) await l.cycle(cycle);
        await l.finish();
      }),
    );
    console.log(`crash-k8s-creds: ${JSON.stringify(figures)}; a batch of creds requests took ${lanes.map((l) => l.issueMs()).join("/")} ms`);
    expect(figures.kills).toBeGreaterThanOrEqual(Math.min(KILLS, 50));
    expect(figures.acknowledged).toBeGreaterThan(0);
  }, 600_000);
});
