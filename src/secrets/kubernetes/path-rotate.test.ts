import { describe, expect, it } from "vitest";
import { CERT, engineCore, fakeCluster, HOST, KEY } from "./test-harness.js";

const jwt = (claims: object) => `e30.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.sig`;
const SA_JWT = jwt({ sub: "system:serviceaccount:latchkey:jit", iat: 1000, exp: 8200 });

describe("target rotation", () => {
  it("replaces a service-account token with a fresh one for the same account, keeping its lifetime", async () => {
    const cluster = fakeCluster();
    const lk = await engineCore(cluster);
    await lk.request("POST", "kube/targets/prod", { kubernetes_host: HOST, service_account_jwt: SA_JWT });
    const res = await lk.request("POST", "kube/targets/prod/rotate");
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.data).toEqual({ service_account_name: "jit", service_account_namespace: "latchkey", expiration: expect.any(String) });
    expect(res.body.warnings).toEqual([`the new token expires at ${res.body.data.expiration}; rotate again before then`]);
    expect(cluster.tokens).toEqual([{ namespace: "latchkey", serviceAccount: "jit", spec: { expirationSeconds: 7200 } }]);
    expect(lk.targets[0].target.serviceAccountJwt).toBe(SA_JWT);
    await lk.request("POST", "kube/roles/app", { service_account_name: "app", allowed_kubernetes_namespaces: ["ns"], target: "prod" });
    await lk.request("POST", "kube/creds/app");
    expect(lk.targets.at(-1)?.target.serviceAccountJwt).toBe("token-1-for-jit");
    expect(JSON.stringify(res.body)).not.toContain("token-1-for-jit");
  });

  it("rotates the config, with a TTL of at least ten minutes", async () => {
    const cluster = fakeCluster();
    const lk = await engineCore(cluster);
    await lk.request("POST", "kube/config", { kubernetes_host: HOST, service_account_jwt: SA_JWT });
    expect((await lk.request("POST", "kube/config/rotate", { ttl: "1m" })).status).toBe(200);
    expect(cluster.tokens[0].spec).toEqual({ expirationSeconds: 600 });
  });

  it.each([
    [{ client_cert: CERT, client_key: KEY }, 400, `only a target with a "service_account_jwt" can be rotated`],
    [{ service_account_jwt: "opaque" }, 400, `the "service_account_jwt" of target "t" is not a service-account token`],
    [{ service_account_jwt: jwt({ sub: "alice" }) }, 400, `the "service_account_jwt" of target "t" is not a service-account token`],
  ])("refuses to rotate %j", async (credential, status, message) => {
    const lk = await engineCore(fakeCluster());
    await lk.request("POST", "kube/targets/t", { kubernetes_host: HOST, ...credential });
    expect(await lk.request("POST", "kube/targets/t/rotate")).toEqual({ status, body: { errors: [message] } });
  });

  it("answers 502 when the target may not request its own token, and keeps the old one", async () => {
    const cluster = fakeCluster();
    cluster.fail("POST", /\/token$/, 403);
    const lk = await engineCore(cluster);
    await lk.request("POST", "kube/targets/t", { kubernetes_host: HOST, service_account_jwt: SA_JWT });
    expect(await lk.request("POST", "kube/targets/t/rotate")).toEqual({
      status: 502,
      body: { errors: [`kubernetes target "t" is not allowed to create serviceaccounts/token in namespace "latchkey"`] },
    });
    await lk.request("POST", "kube/roles/app", { service_account_name: "app", allowed_kubernetes_namespaces: ["ns"], target: "t" });
    cluster.heal();
    await lk.request("POST", "kube/creds/app");
    expect(lk.targets.at(-1)?.target.serviceAccountJwt).toBe(SA_JWT);
  });
});
