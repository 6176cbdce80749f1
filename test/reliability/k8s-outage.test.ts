/**
 * A Kubernetes API outage, made with a TCP proxy in front of the shared
 * kube-apiserver (which is never stopped): a real latchkey server (SQLite)
 * whose kubernetes auth config and secrets-engine target point at the proxy.
 * While the proxy is cut, logins and credential issuance answer a clear
 * 502/503 saying the API server is unreachable (never a 500, never a token,
 * no lease); leases of dynamic credentials that fall due meanwhile are retried
 * and finished once it is back. A throttling API server (429 with Retry-After)
 * is waited out.
 */
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seededRandom } from "../helpers/crash.js";
import { clusterCaPem, expectNoJwt, reviewerAccount } from "../helpers/k8s-auth.js";
import {
  cleanup,
  createServiceAccount,
  eventually,
  identityWith,
  MANAGED_BY_LATCHKEY,
  objectsLabelled,
  SA_REQUEST,
  tokenRequest,
  uniqueNamespace,
  kubeTestEnv,
} from "../helpers/k8s.js";
import { api, autoSealConfig, startServerProcess, type ServerProcess } from "../helpers/process.js";
import { startTcpProxy, type TcpProxy } from "../helpers/proxy.js";

const RULES = JSON.stringify([{ apiGroups: [""], resources: ["configmaps"], verbs: ["get"] }]);

/** The API server's own key pair, so that a throttling proxy passes the client's CA check (scripts/k8s-test-cluster.sh keeps it beside KUBE_CA). */
function apiServerKeyPair(): { key: string; cert: string } {
  const dir = process.env.KUBE_CA ? dirname(process.env.KUBE_CA) : "";
  const [cert, key] = ["apiserver.crt", "apiserver.key"].map((f) => join(dir, f));
  if (!existsSync(cert) || !existsSync(key)) {
    throw new Error(`the throttling test needs the API server's certificate and key beside KUBE_CA (${cert}, ${key})`);
  }
  return { cert: readFileSync(cert, "utf8"), key: readFileSync(key, "utf8") };
}

let proxy: TcpProxy;
let server: ServerProcess;
let root: string;
let ns: string;
let appJwt: string;

const login = () => api(server.address, "POST", "auth/kubernetes/login", undefined, { role: "app", jwt: appJwt });
const creds = (ttl = "1h") => api(server.address, "POST", "kube/creds/dyn", root, { kubernetes_namespace: ns, ttl });
const leases = async () => ((await api(server.address, "GET", "sys/leases/lookup/kube/creds/dyn?list=true", root)).json.data?.keys ?? []) as string[];
/** `kind/namespace/name` of the engine's objects in the test namespace, asked of the API server directly. */
const nsObjects = async () => (await objectsLabelled(MANAGED_BY_LATCHKEY)).filter((o) => o.includes(`/${ns}/`));

/** An outage answer: one of 502/503/504, naming the unreachable API server, no token, no 500. */
function expectUnreachable(res: { status: number; json: Record<string, any>; text: string }, message: RegExp): void {
  expect([502, 503, 504], res.text).toContain(res.status);
  expect(res.json.errors).toHaveLength(1);
  expect(res.json.errors[0]).toMatch(message);
  expect(res.json.auth ?? null).toBeNull();
  expectNoJwt(res.text, [appJwt]);
}

beforeAll(async () => {
  const { host } = kubeTestEnv();
  proxy = await startTcpProxy(host);
  ns = await uniqueNamespace({ "latchkey.test/suite": "k8s-outage" });
  await createServiceAccount(ns, "app");
  appJwt = (await tokenRequest(ns, "app", { expirationSeconds: 3600 })).token;
  const reviewerJwt = await reviewerAccount(ns, "reviewer", { delegator: true });
  const targetJwt = await identityWith(ns, "latchkey-jit", SA_REQUEST);

  const dir = mkdtempSync(join(tmpdir(), "latchkey-k8s-outage-"));
  server = await startServerProcess(["--config", autoSealConfig(dir)]);
  const init = await api(server.address, "PUT", "sys/init", undefined, { secret_shares: 1, secret_threshold: 1 });
  root = init.json.root_token as string;
  const ok = async (path: string, body: object) => {
    const res = await api(server.address, "POST", path, root, body);
    expect([200, 204], `${path}: ${res.text}`).toContain(res.status);
  };
  await ok("sys/auth/kubernetes", { type: "kubernetes" });
  await ok("auth/kubernetes/config", {
    kubernetes_host: proxy.url,
    kubernetes_ca_cert: clusterCaPem(),
    token_reviewer_jwt: reviewerJwt,
    validation: "tokenreview",
    disable_local_ca_jwt: true,
  });
  await ok("auth/kubernetes/role/app", { bound_service_account_names: "app", bound_service_account_namespaces: ns, token_policies: "default", token_ttl: "1h" });
  await ok("sys/mounts/kube", { type: "kubernetes" });
  await ok("kube/config", { kubernetes_host: proxy.url, kubernetes_ca_cert: clusterCaPem(), service_account_jwt: targetJwt });
  await ok("kube/roles/dyn", { allowed_kubernetes_namespaces: [ns], generated_role_rules: RULES, kubernetes_role_type: "Role", token_max_ttl: "2h" });
}, 120_000);

afterAll(async () => {
  await server?.stop("SIGTERM");
  await proxy?.close();
  await cleanup();
});

describe("Kubernetes API unreachable (the proxy cut)", () => {
  it("answers logins with 502 naming the unreachable API server, never a token, and logs in again once it is back", async () => {
    expect((await login()).status).toBe(200);
    proxy.cut();
    for (let i = 0; i < 3; i++) expectUnreachable(await login(), /^kubernetes TokenReview failed: .* is unreachable$/);
    proxy.restore();
    const back = await login();
    expect(back.status, back.text).toBe(200);
    expect(back.json.auth.client_token).toMatch(/^lks\./);
  });

  it("answers credential requests with 503, leaving no lease and no object behind, and issues again once it is back", async () => {
    const leasesBefore = await leases();
    proxy.cut();
    for (let i = 0; i < 3; i++) expectUnreachable(await creds(), /^kubernetes .*: the API server is unreachable$/);
    expect(await leases()).toEqual(leasesBefore);
    // Seen from the API server directly, not through the proxy.
    expect(await nsObjects()).toEqual([]);
    proxy.restore();
    const issued = await creds();
    expect(issued.status, issued.text).toBe(200);
    expect(await nsObjects()).toHaveLength(3);
    expect((await api(server.address, "PUT", "sys/leases/revoke", root, { lease_id: issued.json.lease_id })).status).toBe(204);
    expect(await nsObjects()).toEqual([]);
  });

  it("leaves no half-created object once the API is back after cuts in the middle of issuance (seeded cut points)", async () => {
    const random = seededRandom("k8s-outage issuance cuts");
    const issuedNames: string[] = [];
    const leaseIds: string[] = [];
    let refused = 0;
    // Cut points are drawn within the time an uncut burst takes on this machine, so they fall
    // mid-issue on a fast machine as on a loaded one; rounds go on until one request was cut.
    const started = Date.now();
    for (const res of await Promise.all(Array.from({ length: 6 }, () => creds()))) {
      expect(res.status, res.text).toBe(200);
      issuedNames.push(res.json.data.service_account_name);
      leaseIds.push(res.json.lease_id);
    }
    const burstMs = Math.max(10, Date.now() - started);
    let rounds = 0;
    for (let round = 0; round < 4 || (refused === 0 && round < 12); round++) {
      rounds++;
      const inFlight = Array.from({ length: 6 }, () => creds());
      const cutAt = random.int(0, burstMs);
      await new Promise((resolve) => setTimeout(resolve, cutAt));
      proxy.cut();
      for (const res of await Promise.all(inFlight)) {
        if (res.status === 200) {
          issuedNames.push(res.json.data.service_account_name);
          leaseIds.push(res.json.lease_id);
        } else {
          expectUnreachable(res, /^kubernetes .*: the API server (is unreachable|did not answer in time)$/);
          refused++;
        }
      }
      proxy.restore();
    }
    expect(refused, "no request was cut").toBeGreaterThan(0);
    // Whatever a cut request had made is deleted once the API server is reachable again; what was issued stays.
    const names = async () => [...new Set((await nsObjects()).map((o) => o.split("/")[2]))].sort();
    await eventually("objects of cut requests are deleted", async () => JSON.stringify(await names()) === JSON.stringify([...issuedNames].sort()), 60_000);
    expect(await nsObjects()).toHaveLength(3 * issuedNames.length);
    for (const id of leaseIds) expect((await api(server.address, "PUT", "sys/leases/revoke", root, { lease_id: id })).status).toBe(204);
    expect(await nsObjects()).toEqual([]);
    console.log(`k8s-outage: ${rounds} cuts during issuance (bursts of ${burstMs} ms), ${refused} requests refused, ${issuedNames.length} issued; no object left behind`);
  }, 120_000);

  it("retries the revocations of leases that fall due while it is down and finishes them once it is back", async () => {
    const issued = [];
    for (let i = 0; i < 3; i++) {
      const res = await creds("3s");
      expect(res.status, res.text).toBe(200);
      issued.push(res.json.lease_id as string);
    }
    expect(await nsObjects()).toHaveLength(9);
    proxy.cut();
    const retriesBefore = (server.output().match(/lease revocation failed; will retry/g) ?? []).length;
    // Due, tried, failed and queued for a retry: the leases stay, and so do their objects.
    await eventually(
      "every due lease failed at least once",
      async () => (server.output().match(/lease revocation failed; will retry/g) ?? []).length - retriesBefore >= issued.length,
      30_000,
    );
    expect(new Set(await leases())).toEqual(new Set(issued.map((id) => id.split("/").pop())));
    expect(await nsObjects()).toHaveLength(9);
    proxy.restore();
    await eventually("the leases are revoked", async () => (await leases()).length === 0, 60_000);
    await eventually("their objects are deleted", async () => (await nsObjects()).length === 0, 10_000);
  }, 120_000);
});

describe("a throttling Kubernetes API (429 with Retry-After)", () => {
  it("waits out the throttle and logs in, and issues credentials", async () => {
    const tls = apiServerKeyPair();
    for (const request of [login, () => creds()]) {
      proxy.throttle(tls, 1);
      const throttledBefore = proxy.throttled();
      const lifted = new Promise<void>((resolve) =>
        setTimeout(() => {
          proxy.restore();
          resolve();
        }, 1500),
      );
      const res = await request();
      await lifted;
      expect(res.status, res.text).toBe(200);
      expect(proxy.throttled() - throttledBefore).toBeGreaterThan(0);
      if (res.json.lease_id) expect((await api(server.address, "PUT", "sys/leases/revoke", root, { lease_id: res.json.lease_id })).status).toBe(204);
    }
    expect(await nsObjects()).toEqual([]);
  }, 60_000);
});
