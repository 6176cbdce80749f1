/**
 * Tenant isolation: workloads of two namespaces, A and B, log in with real
 * service-account tokens through the kubernetes auth method and share one
 * templated policy. A matrix of paths × operations × engines checks that A's
 * token cannot read, list, write, delete or renew anything of B's, and that
 * every answer about one of B's existing objects is the answer about a
 * missing one (status and body; timing is not asserted). Every denial is in
 * the audit log.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanup, uniqueName } from "../helpers/k8s.js";
import { startServerProcess, type ServerProcess } from "../helpers/process.js";
import { ROOT_TOKEN } from "../helpers/server.js";
import { mountTenancy, ok, tenant, type Tenancy, type Tenant } from "../helpers/tenants.js";

/** What one cell sends; `id` is B's existing object, or a missing one of the same shape. */
interface Probe {
  method: string;
  path: string;
  body?: unknown;
  headers?: Record<string, string>;
}

interface Cell {
  engine: string;
  operation: string;
  /** The kind of identifier the cell varies: its existing and missing values. */
  subject: keyof Subjects;
  probe: (id: string) => Probe;
  /** The one answer A gets for both: 403 `permission denied` unless said otherwise (`errors: null` for none). */
  status?: number;
  errors?: string[] | null;
}

/** B's objects, each with a missing counterpart of the same shape. */
interface Subjects {
  kvName: [string, string];
  kvFolder: [string, string];
  nsName: [string, string];
  credsLease: [string, string];
  loginLease: [string, string];
  leasePrefix: [string, string];
  token: [string, string];
  accessor: [string, string];
  wrapAccessor: [string, string];
  cubbyKey: [string, string];
  cubbyFolder: [string, string];
}

const DENIED = ["permission denied"];
/** What the varied identifier becomes in a normalised answer. */
const ID = "<id>";
const random = (n: number) => randomBytes(n).toString("base64url").slice(0, n);
/** The same length and alphabet as `value` after its first `keep` characters. */
const lookalike = (value: string, keep: number) => value.slice(0, keep) + random(value.length - keep);

let server: ServerProcess;
let tenancy: Tenancy;
let a: Tenant;
let b: Tenant;
let auditPath: string;
let subjects: Subjects;
let wrapToken: string;
/** The paths of every 403 the matrix got, as the audit log records them (no query string). */
const deniedByMatrix = new Set<string>();
const bSecret = `b-secret-${random(12)}`;
/** Names distinctive enough that replacing them in an answer replaces nothing else. */
const ITEM = `item${randomBytes(4).toString("hex")}`;
const FOLDER = `folder${randomBytes(4).toString("hex")}`;
/** Cubbyholes are per token: B's keys there are ones A never wrote in its own. */
const B_ONLY = `bonly${randomBytes(4).toString("hex")}`;

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), "latchkey-tenants-"));
  auditPath = join(dir, "audit.log");
  server = await startServerProcess(["--dev", "--dev-root-token", ROOT_TOKEN, "--listen", "127.0.0.1:0"]);
  tenancy = await mountTenancy(server.address, ROOT_TOKEN);
  await ok(tenancy.call, "PUT", "sys/audit/file", { type: "file", options: { file_path: auditPath } });
  const loginLeases = async () =>
    ((await ok(tenancy.call, "GET", "sys/leases/lookup/auth/kubernetes/login?list=true")).data?.keys as string[] | undefined) ?? [];
  a = await tenant(tenancy, "a");
  const before = await loginLeases();
  b = await tenant(tenancy, "b");
  // B's login lease: the one B's login added.
  const loginLease = `auth/kubernetes/login/${(await loginLeases()).filter((k) => !before.includes(k)).join()}`;

  // Each tenant's state, written with its own token: every engine holds something of A's and of B's.
  for (const t of [a, b]) {
    await ok(t.call, "POST", `secret/data/ns/${t.ns}/${ITEM}`, { data: { password: `${t.ns}-v1` } });
    await ok(t.call, "POST", `secret/data/ns/${t.ns}/${ITEM}`, { data: { password: t === b ? bSecret : `${t.ns}-v2` } });
    await ok(t.call, "POST", `secret/data/ns/${t.ns}/${FOLDER}/nested`, { data: { k: "v" } });
    await ok(t.call, "POST", `kv1/ns/${t.ns}/${ITEM}`, { password: `${t.ns}-kv1` });
    await ok(t.call, "POST", `kv1/ns/${t.ns}/${FOLDER}/nested`, { k: "v" });
    await ok(t.call, "POST", `cubbyhole/${ITEM}`, { password: `${t.ns}-cubby` });
    await ok(t.call, "POST", `cubbyhole/${FOLDER}/nested`, { k: "v" });
  }
  await ok(b.call, "POST", `cubbyhole/${B_ONLY}`, { password: bSecret });
  await ok(b.call, "POST", `cubbyhole/${B_ONLY}/nested`, { k: "v" });
  const creds = await ok(b.call, "POST", `kube/creds/${b.ns}`, { kubernetes_namespace: b.ns });
  expect((await ok(tenancy.call, "PUT", "sys/leases/lookup", { lease_id: loginLease })).data.id).toBe(loginLease);
  const wrapped = await ok(b.call, "GET", `secret/data/ns/${b.ns}/${ITEM}`, undefined, { "x-vault-wrap-ttl": "10m" });
  wrapToken = wrapped.wrap_info.token;
  const missingNs = uniqueName("lk-test");
  subjects = {
    kvName: [ITEM, `gone${random(6)}`],
    kvFolder: [FOLDER, `d${random(6)}`],
    nsName: [b.ns, missingNs],
    credsLease: [creds.lease_id, lookalike(creds.lease_id, creds.lease_id.lastIndexOf("/") + 1)],
    loginLease: [loginLease, lookalike(loginLease, loginLease.lastIndexOf("/") + 1)],
    leasePrefix: [`kube/creds/${b.ns}`, `kube/creds/${missingNs}`],
    token: [b.token, lookalike(b.token, 4)],
    accessor: [b.accessor, lookalike(b.accessor, 0)],
    wrapAccessor: [wrapped.wrap_info.accessor, lookalike(wrapped.wrap_info.accessor, 0)],
    cubbyKey: [B_ONLY, `gone${random(6)}`],
    cubbyFolder: [B_ONLY, `d${random(6)}`],
  };
}, 180_000);

afterAll(async () => {
  await server?.stop();
  await cleanup();
});

/** The cells: every way A's token might reach one of B's objects. */
function matrix(): Cell[] {
  const kv2 = (op: string, p: (id: string) => Probe, subject: keyof Subjects = "kvName"): Cell => ({ engine: "kv-v2", operation: op, subject, probe: p });
  const bns = () => b.ns;
  const cells: Cell[] = [
    kv2("read", (id) => ({ method: "GET", path: `secret/data/ns/${bns()}/${id}` })),
    kv2("read version", (id) => ({ method: "GET", path: `secret/data/ns/${bns()}/${id}?version=1` })),
    kv2("create/update", (id) => ({ method: "POST", path: `secret/data/ns/${bns()}/${id}`, body: { data: { x: "y" } } })),
    kv2("check-and-set", (id) => ({ method: "PUT", path: `secret/data/ns/${bns()}/${id}`, body: { options: { cas: 2 }, data: { x: "y" } } })),
    kv2("patch", (id) => ({
      method: "PATCH",
      path: `secret/data/ns/${bns()}/${id}`,
      body: { data: { x: "y" } },
      headers: { "content-type": "application/merge-patch+json" },
    })),
    kv2("delete latest", (id) => ({ method: "DELETE", path: `secret/data/ns/${bns()}/${id}` })),
    kv2("read metadata", (id) => ({ method: "GET", path: `secret/metadata/ns/${bns()}/${id}` })),
    kv2("write metadata", (id) => ({ method: "POST", path: `secret/metadata/ns/${bns()}/${id}`, body: { max_versions: 1 } })),
    kv2("delete metadata", (id) => ({ method: "DELETE", path: `secret/metadata/ns/${bns()}/${id}` })),
    kv2("subkeys", (id) => ({ method: "GET", path: `secret/subkeys/ns/${bns()}/${id}` })),
    kv2("delete versions", (id) => ({ method: "POST", path: `secret/delete/ns/${bns()}/${id}`, body: { versions: [1] } })),
    kv2("undelete", (id) => ({ method: "POST", path: `secret/undelete/ns/${bns()}/${id}`, body: { versions: [1] } })),
    kv2("destroy", (id) => ({ method: "PUT", path: `secret/destroy/ns/${bns()}/${id}`, body: { versions: [1, 2] } })),
    kv2("list folder", (id) => ({ method: "GET", path: `secret/metadata/ns/${bns()}/${id}/?list=true` }), "kvFolder"),
    kv2("list namespace", (id) => ({ method: "GET", path: `secret/metadata/ns/${id}/?list=true` }), "nsName"),
    {
      ...kv2("list data namespace", (id) => ({ method: "GET", path: `secret/data/ns/${id}/?list=true` }), "nsName"),
      status: 405,
      errors: [`unsupported operation list on "secret/data/ns/${ID}/"`],
    },
    kv2("read namespace as a secret", (id) => ({ method: "GET", path: `secret/data/ns/${id}` }), "nsName"),
    { ...kv2("help", (id) => ({ method: "GET", path: `secret/data/ns/${bns()}/${id}?help=1` })), status: 200, errors: null },
  ];
  const kv1 = (op: string, p: (id: string) => Probe, subject: keyof Subjects = "kvName"): Cell => ({ engine: "kv-v1", operation: op, subject, probe: p });
  cells.push(
    kv1("read", (id) => ({ method: "GET", path: `kv1/ns/${bns()}/${id}` })),
    kv1("create/update", (id) => ({ method: "POST", path: `kv1/ns/${bns()}/${id}`, body: { x: "y" } })),
    kv1("delete", (id) => ({ method: "DELETE", path: `kv1/ns/${bns()}/${id}` })),
    kv1("list folder", (id) => ({ method: "GET", path: `kv1/ns/${bns()}/${id}/?list=true` }), "kvFolder"),
    kv1("list namespace", (id) => ({ method: "GET", path: `kv1/ns/${id}/?list=true` }), "nsName"),
  );
  // A's cubbyhole is A's own: B's keys are simply not there.
  const cubby = (op: string, subject: keyof Subjects, p: (id: string) => Probe, status: number, errors: string[] | null = []): Cell => ({
    engine: "cubbyhole", operation: op, subject, probe: p, status, errors,
  });
  cells.push(
    cubby("read", "cubbyKey", (id) => ({ method: "GET", path: `cubbyhole/${id}` }), 404),
    cubby("list folder", "cubbyFolder", (id) => ({ method: "GET", path: `cubbyhole/${id}/?list=true` }), 404),
    cubby("delete", "cubbyKey", (id) => ({ method: "DELETE", path: `cubbyhole/${id}` }), 204, null),
  );
  const kube = (op: string, subject: keyof Subjects, p: (id: string) => Probe, status = 403, errors = DENIED): Cell => ({
    engine: "kubernetes", operation: op, subject, probe: p, status, errors,
  });
  cells.push(
    kube("creds", "nsName", (id) => ({ method: "POST", path: `kube/creds/${id}`, body: {} })),
    kube("creds with B's namespace", "nsName", (id) => ({ method: "POST", path: `kube/creds/${id}`, body: { kubernetes_namespace: id } })),
    kube("creds of A's role in B's namespace", "nsName", (id) => ({
      method: "POST", path: `kube/creds/${a.ns}`, body: { kubernetes_namespace: id },
    }), 400, [`namespace "${ID}" is not allowed by role "${a.ns}"`]),
    kube("read role", "nsName", (id) => ({ method: "GET", path: `kube/roles/${id}` })),
    kube("write role", "nsName", (id) => ({ method: "POST", path: `kube/roles/${id}`, body: { service_account_name: "app", allowed_kubernetes_namespaces: [a.ns] } })),
    kube("delete role", "nsName", (id) => ({ method: "DELETE", path: `kube/roles/${id}` })),
    kube("list roles", "nsName", () => ({ method: "GET", path: "kube/roles?list=true" })),
  );
  const LEASE_NOT_FOUND = ["lease not found"];
  for (const subject of ["credsLease", "loginLease"] as const) {
    const lease = (op: string, p: (id: string) => Probe, status = 403, errors = DENIED): Cell => ({
      engine: `leases (${subject === "credsLease" ? "kubernetes creds" : "kubernetes login"})`, operation: op, subject, probe: p, status, errors,
    });
    cells.push(
      lease("lookup", (id) => ({ method: "PUT", path: "sys/leases/lookup", body: { lease_id: id } }), 400, ["invalid lease"]),
      lease("renew", (id) => ({ method: "PUT", path: "sys/leases/renew", body: { lease_id: id } }), 400, LEASE_NOT_FOUND),
      lease("renew with an increment", (id) => ({ method: "PUT", path: "sys/leases/renew", body: { lease_id: id, increment: "1h" } }), 400, LEASE_NOT_FOUND),
      lease("renew (sys/renew)", (id) => ({ method: "PUT", path: "sys/renew", body: { lease_id: id } }), 400, LEASE_NOT_FOUND),
      lease("renew by path", (id) => ({ method: "PUT", path: `sys/leases/renew/${id}` })),
      lease("revoke", (id) => ({ method: "PUT", path: "sys/leases/revoke", body: { lease_id: id } })),
      lease("revoke by path", (id) => ({ method: "PUT", path: `sys/leases/revoke/${id}` })),
      lease("revoke (sys/revoke)", (id) => ({ method: "PUT", path: `sys/revoke/${id}` })),
      lease("revoke-prefix", (id) => ({ method: "PUT", path: `sys/leases/revoke-prefix/${id}` })),
      lease("revoke-force", (id) => ({ method: "PUT", path: `sys/leases/revoke-force/${id}` })),
      lease("list by prefix", (id) => ({ method: "GET", path: `sys/leases/lookup/${id.slice(0, id.lastIndexOf("/"))}/?list=true` })),
    );
  }
  const lease = (op: string, p: (id: string) => Probe): Cell => ({ engine: "leases (prefix)", operation: op, subject: "leasePrefix", probe: p });
  cells.push(
    lease("list", (id) => ({ method: "GET", path: `sys/leases/lookup/${id}/?list=true` })),
    lease("list all", () => ({ method: "GET", path: "sys/leases/lookup?list=true" })),
    lease("revoke-prefix", (id) => ({ method: "PUT", path: `sys/leases/revoke-prefix/${id}` })),
  );
  const token = (op: string, subject: keyof Subjects, p: (id: string) => Probe, status = 403, errors = DENIED): Cell => ({
    engine: "tokens", operation: op, subject, probe: p, status, errors,
  });
  cells.push(
    token("lookup", "token", (id) => ({ method: "POST", path: "auth/token/lookup", body: { token: id } })),
    token("lookup (GET)", "token", (id) => ({ method: "GET", path: `auth/token/lookup?token=${id}` }), 405, [
      'unsupported operation read on "auth/token/lookup"',
    ]),
    token("renew", "token", (id) => ({ method: "POST", path: "auth/token/renew", body: { token: id } })),
    token("revoke", "token", (id) => ({ method: "POST", path: "auth/token/revoke", body: { token: id } })),
    token("revoke-orphan", "token", (id) => ({ method: "POST", path: "auth/token/revoke-orphan", body: { token: id } })),
    token("lookup-self with B's token in the body", "token", (id) => ({ method: "POST", path: "auth/token/lookup-self", body: { token: id } })),
    token("create as a child", "token", (id) => ({ method: "POST", path: "auth/token/create", body: { policies: ["tenant"], meta: { of: id } } })),
    token("lookup-accessor", "accessor", (id) => ({ method: "POST", path: "auth/token/lookup-accessor", body: { accessor: id } })),
    token("renew-accessor", "accessor", (id) => ({ method: "POST", path: "auth/token/renew-accessor", body: { accessor: id } })),
    token("revoke-accessor", "accessor", (id) => ({ method: "POST", path: "auth/token/revoke-accessor", body: { accessor: id } })),
    token("list accessors", "accessor", () => ({ method: "GET", path: "auth/token/accessors?list=true" })),
  );
  const caps = (op: string, subject: keyof Subjects, p: (id: string) => Probe, status = 403, errors: string[] | null = DENIED): Cell => ({
    engine: "capabilities", operation: op, subject, probe: p, status, errors,
  });
  cells.push(
    caps("of B's token", "token", (id) => ({ method: "POST", path: "sys/capabilities", body: { token: id, paths: [`secret/data/ns/${bns()}/${ITEM}`] } })),
    caps("of B's accessor", "accessor", (id) => ({
      method: "POST", path: "sys/capabilities-accessor", body: { accessor: id, paths: [`secret/data/ns/${bns()}/${ITEM}`] },
    })),
    caps("self, on B's secret", "kvName", (id) => ({ method: "POST", path: "sys/capabilities-self", body: { paths: [`secret/data/ns/${bns()}/${id}`] } }), 200, null),
    caps("self, on B's namespace", "nsName", (id) => ({ method: "POST", path: "sys/capabilities-self", body: { paths: [`kube/creds/${id}`, `kv1/ns/${id}/${ITEM}`] } }), 200, null),
  );
  const INVALID_WRAP = ["wrapping token is not valid or does not exist"];
  const wrap = (op: string, p: (id: string) => Probe, status = 400, errors = INVALID_WRAP): Cell => ({
    engine: "wrapping", operation: op, subject: "wrapAccessor", probe: p, status, errors,
  });
  cells.push(
    wrap("lookup", (id) => ({ method: "POST", path: "sys/wrapping/lookup", body: { token: id } })),
    wrap("unwrap", (id) => ({ method: "POST", path: "sys/wrapping/unwrap", body: { token: id } })),
    wrap("rewrap", (id) => ({ method: "POST", path: "sys/wrapping/rewrap", body: { token: id } }), 403, DENIED),
  );
  const sys = (op: string, subject: keyof Subjects, p: (id: string) => Probe): Cell => ({ engine: "sys", operation: op, subject, probe: p });
  cells.push(
    sys("ui mounts", "kvName", (id) => ({ method: "GET", path: `sys/internal/ui/mounts/secret/data/ns/${bns()}/${id}` })),
    sys("ui mounts of B's namespace", "nsName", (id) => ({ method: "GET", path: `sys/internal/ui/mounts/kube/creds/${id}` })),
    sys("mounts", "nsName", () => ({ method: "GET", path: "sys/mounts" })),
    sys("policies", "nsName", () => ({ method: "GET", path: "sys/policies/acl?list=true" })),
    sys("audit hash", "token", (id) => ({ method: "POST", path: "sys/audit-hash/file", body: { input: id } })),
  );
  return cells;
}

/** A's answer, with the varied identifier and the request id taken out. */
function normalised(res: { status: number; json: Record<string, unknown>; text: string }, id: string) {
  const { request_id: _id, ...body } = res.json;
  return { status: res.status, body: JSON.parse(JSON.stringify(body).split(id).join(ID)) as Record<string, unknown> };
}

describe("tenant isolation between two namespaces under one templated policy", () => {
  it("lets each tenant use its own subtree of every engine (the policy works)", async () => {
    expect((await ok(a.call, "GET", `secret/data/ns/${a.ns}/${ITEM}`)).data.data.password).toBe(`${a.ns}-v2`);
    expect((await ok(a.call, "GET", `secret/metadata/ns/${a.ns}/?list=true`)).data.keys).toEqual([`${FOLDER}/`, ITEM]);
    expect((await ok(a.call, "GET", `kv1/ns/${a.ns}/${ITEM}`)).data.password).toBe(`${a.ns}-kv1`);
    expect((await ok(a.call, "GET", `cubbyhole/${ITEM}`)).data.password).toBe(`${a.ns}-cubby`);
    const creds = await ok(a.call, "POST", `kube/creds/${a.ns}`, { kubernetes_namespace: a.ns });
    expect(creds.data.service_account_namespace).toBe(a.ns);
    expect((await ok(a.call, "PUT", "sys/leases/lookup", { lease_id: creds.lease_id })).data.id).toBe(creds.lease_id);
    const self = await ok(a.call, "POST", "sys/capabilities-self", { paths: [`secret/data/ns/${a.ns}/${ITEM}`] });
    expect(self.data.capabilities).toEqual(["create", "delete", "list", "patch", "read", "update"]);
  });

  it("answers A about B's objects as about missing ones, and never with B's data: every cell of the matrix", async () => {
    const cells = matrix();
    const failures: string[] = [];
    let requests = 0;
    for (const cell of cells) {
      const [existing, missing] = subjects[cell.subject];
      const answers = [];
      for (const id of [existing, missing]) {
        const p = cell.probe(id);
        const res = await a.call(p.method, p.path, p.body, p.headers);
        requests++;
        if (res.status === 403) deniedByMatrix.add(p.path.replace(/\?.*/, ""));
        answers.push(normalised(res, id));
        if (res.text.includes(bSecret) || res.text.includes(b.token)) failures.push(`${cell.engine} ${cell.operation}: B's secret in the answer`);
      }
      const label = `${cell.engine} / ${cell.operation}`;
      const [forExisting, forMissing] = answers;
      const want = { status: cell.status ?? 403, errors: cell.errors === undefined ? DENIED : cell.errors };
      if (JSON.stringify(forExisting) !== JSON.stringify(forMissing)) {
        failures.push(`${label}: B's object answers ${JSON.stringify(forExisting)}, a missing one ${JSON.stringify(forMissing)}`);
      }
      if (forExisting.status !== want.status) failures.push(`${label}: status ${forExisting.status}, not ${want.status}: ${JSON.stringify(forExisting.body)}`);
      if (JSON.stringify(forExisting.body.errors ?? null) !== JSON.stringify(want.errors)) {
        failures.push(`${label}: errors ${JSON.stringify(forExisting.body.errors)}, not ${JSON.stringify(want.errors)}`);
      }
    }
    const engines = new Set(cells.map((c) => c.engine.replace(/ \(.*/, "")));
    console.log(
      `tenant isolation: ${cells.length} cells (${engines.size} engines: ${[...engines].join(", ")}), ` +
        `${requests} requests as A, ${failures.length} failures`,
    );
    expect(failures).toEqual([]);
    expect(cells.length).toBeGreaterThanOrEqual(70);
  });

  it("leaves every one of B's objects as it was, and B can still use them", async () => {
    const kv2 = await ok(b.call, "GET", `secret/data/ns/${b.ns}/${ITEM}`);
    expect(kv2.data.data.password).toBe(bSecret);
    expect(kv2.data.metadata.version).toBe(2);
    expect((await ok(b.call, "GET", `secret/data/ns/${b.ns}/${ITEM}?version=1`)).data.data.password).toBe(`${b.ns}-v1`);
    expect((await ok(b.call, "GET", `secret/metadata/ns/${b.ns}/${ITEM}`)).data.max_versions).toBe(0);
    expect((await ok(b.call, "GET", `kv1/ns/${b.ns}/${ITEM}`)).data.password).toBe(`${b.ns}-kv1`);
    expect((await ok(b.call, "GET", `cubbyhole/${ITEM}`)).data.password).toBe(`${b.ns}-cubby`);
    expect((await ok(b.call, "GET", `kube/roles/${b.ns}`)).data.service_account_name).toBe("workload");
    for (const leaseId of [subjects.credsLease[0], subjects.loginLease[0]]) {
      expect((await ok(b.call, "PUT", "sys/leases/lookup", { lease_id: leaseId })).data.id).toBe(leaseId);
    }
    expect((await ok(b.call, "GET", "auth/token/lookup-self")).data.accessor).toBe(b.accessor);
    const unwrapped = await ok(b.call, "POST", "sys/wrapping/unwrap", { token: wrapToken });
    expect(unwrapped.data.data.password).toBe(bSecret);
  });

  it("audits A's denials with the path asked for and the error it got", async () => {
    const lines = readFileSync(auditPath, "utf8").trim().split("\n").map((l) => JSON.parse(l) as AuditLine);
    const deniedPaths = new Set(
      lines
        .filter((l) => l.type === "response" && l.error === "permission denied" && l.auth?.policies?.includes("tenant") === true)
        .map((l) => l.request.path),
    );
    expect(deniedByMatrix.size).toBeGreaterThan(50);
    expect([...deniedByMatrix].filter((p) => !deniedPaths.has(p))).toEqual([]);
    expect(deniedPaths).toContain(`secret/data/ns/${b.ns}/${ITEM}`);
    console.log(`tenant isolation: all ${deniedByMatrix.size} distinct paths A was denied are audited as denied`);
  });
});

interface AuditLine {
  type: string;
  error?: string;
  auth?: { policies?: string[] };
  request: { path: string };
}
