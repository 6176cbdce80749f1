import { exportSPKI, generateKeyPair, SignJWT, type CryptoKey } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, type ServerProcess } from "../helpers/process.js";
import { initRoot, pgReplicas, poll } from "../ha/replicas.js";

/** A projected service-account token of default/myapp, signed with `key` (the config's pem_keys verify it). */
async function podToken(key: CryptoKey): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ "kubernetes.io": { namespace: "default", serviceaccount: { name: "myapp", uid: "uid-myapp" } } })
    .setProtectedHeader({ alg: "RS256" })
    .setIssuer("https://kubernetes.default.svc.cluster.local")
    .setSubject("system:serviceaccount:default:myapp")
    .setIssuedAt(now)
    .setExpirationTime(now + 600)
    .sign(key);
}

// A login keeps its role and config between logins only on a server of its own: with replicas on one
// database a role rewritten through one replica must bind the very next login at another.
describe("kubernetes logins on PostgreSQL replicas", () => {
  const replicas = pgReplicas("k8sroles");
  let a: ServerProcess;
  let b: ServerProcess;
  let root: string;
  let jwt: string;

  beforeAll(async () => {
    a = await replicas.start();
    root = await initRoot(a);
    b = await replicas.start();
    const unsealed = async () => ((await api(b.address, "GET", "sys/seal-status")).json.sealed === false ? true : undefined);
    await poll("replica b unsealed", unsealed, 30_000);
    const { privateKey, publicKey } = await generateKeyPair("RS256");
    jwt = await podToken(privateKey);
    expect((await api(a.address, "POST", "sys/auth/kubernetes", root, { type: "kubernetes" })).status).toBeLessThan(300);
    const config = await api(a.address, "POST", "auth/kubernetes/config", root, {
      validation: "jwks",
      pem_keys: [await exportSPKI(publicKey)],
    });
    expect(config.status).toBeLessThan(300);
    const role = { bound_service_account_names: "myapp", bound_service_account_namespaces: "default", policies: "default", ttl: "1h" };
    expect((await api(a.address, "POST", "auth/kubernetes/role/app", root, role)).status).toBeLessThan(300);
  }, 120_000);

  afterAll(() => replicas.cleanup());

  it("binds the next login at one replica to a role rewritten through another", async () => {
    // The mount reaches replica b through the mount-table invalidation; then b logs in with the role it read.
    const login = () => api(b.address, "POST", "auth/kubernetes/login", undefined, { role: "app", jwt });
    const first = await poll("a login at replica b", async () => {
      const res = await login();
      return res.status === 200 ? res : undefined;
    }, 30_000);
    expect(first.json.auth.policies).toContain("default");
    const narrowed = await api(a.address, "POST", "auth/kubernetes/role/app", root, { bound_service_account_namespaces: "other" });
    expect(narrowed.status).toBeLessThan(300);
    const next = await login();
    expect(next.status).toBe(403);
    expect(next.json.errors).toEqual(["permission denied: namespace not authorized"]);
  }, 120_000);
});
