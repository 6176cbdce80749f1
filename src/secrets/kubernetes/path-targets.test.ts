import { describe, expect, it } from "vitest";
import { CA_PATH, CERT, KEY, OTHER_KEY, TOKEN_PATH, engineCore, fakeCluster, gatewayJwt, HOST } from "./test-harness.js";

const setup = (files?: Record<string, string>) => engineCore(fakeCluster(), { files });

describe("config and targets", () => {
  it("stores a bearer-token target and never reads the token back", async () => {
    const { request } = await setup();
    expect((await request("POST", "kube/config", { kubernetes_host: HOST, kubernetes_ca_cert: CERT, service_account_jwt: "abc.def.ghi" })).status).toBe(204);
    const res = await request("GET", "kube/config");
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual({
      kubernetes_host: HOST,
      kubernetes_ca_cert: CERT,
      service_account_jwt_set: true,
      use_gateway_service_account: false,
      client_cert: "",
      client_key_set: false,
    });
    expect(JSON.stringify(res.body)).not.toContain("abc.def.ghi");
  });

  it("stores named targets, lists them and reads a client-certificate target without its key", async () => {
    const { request } = await setup();
    expect((await request("POST", "kube/targets/prod", { kubernetes_host: HOST, client_cert: CERT, client_key: KEY })).status).toBe(204);
    expect((await request("POST", "kube/targets/dev", { kubernetes_host: HOST, service_account_jwt: "t0ken" })).status).toBe(204);
    expect((await request("LIST", "kube/targets")).body.data).toEqual({ keys: ["dev", "prod"] });
    const prod = await request("GET", "kube/targets/prod");
    expect(prod.body.data).toMatchObject({ client_cert: CERT, client_key_set: true, service_account_jwt_set: false });
    expect(JSON.stringify(prod.body)).not.toContain("PRIVATE KEY");
    expect((await request("DELETE", "kube/targets/dev")).status).toBe(204);
    expect((await request("GET", "kube/targets/dev")).status).toBe(404);
  });

  it("uses the gateway's service account explicitly, or when no credential is given (Vault's default)", async () => {
    const { request } = await setup({ [TOKEN_PATH]: gatewayJwt(4_000_000_000), [CA_PATH]: CERT });
    expect((await request("POST", "kube/targets/gw", { kubernetes_host: HOST, use_gateway_service_account: true })).status).toBe(204);
    expect((await request("POST", "kube/config", { kubernetes_host: HOST })).status).toBe(204);
    for (const path of ["kube/targets/gw", "kube/config"]) {
      expect((await request("GET", path)).body.data).toMatchObject({ use_gateway_service_account: true, service_account_jwt_set: false });
    }
  });

  it.each([
    [{ service_account_jwt: "t" }, `field "kubernetes_host" is required`],
    [{ kubernetes_host: "ftp://x", service_account_jwt: "t" }, `field "kubernetes_host" must be an http(s) URL`],
    [{ kubernetes_host: HOST, service_account_jwt: "t", use_gateway_service_account: true }, `give one credential: "service_account_jwt", "use_gateway_service_account" or "client_cert" with "client_key"`],
    [{ kubernetes_host: HOST, service_account_jwt: "t", client_cert: CERT, client_key: KEY }, `give one credential: "service_account_jwt", "use_gateway_service_account" or "client_cert" with "client_key"`],
    [{ kubernetes_host: HOST, client_cert: CERT }, `"client_cert" and "client_key" must be given together`],
    [{ kubernetes_host: HOST, client_cert: CERT, client_key: OTHER_KEY }, `field "client_key" does not match "client_cert"`],
    [{ kubernetes_host: HOST, client_cert: "nope", client_key: KEY }, `field "client_cert" must be PEM encoded (or base64 of PEM)`],
    [{ kubernetes_host: HOST, service_account_jwt: "a b" }, `field "service_account_jwt" must be a bearer token (no whitespace)`],
    [{ kubernetes_host: HOST, kubernetes_ca_cert: KEY, service_account_jwt: "t" }, `field "kubernetes_ca_cert" must contain only certificates`],
    [{ kubernetes_host: HOST, use_gateway_service_account: true }, `field "use_gateway_service_account": the server has no service-account token at ${TOKEN_PATH}`],
    [{ kubernetes_host: HOST }, `no credential given: set "service_account_jwt", "client_cert" and "client_key", or "use_gateway_service_account" (the server has no service-account token at ${TOKEN_PATH})`],
  ])("refuses %j at write time", async (body, message) => {
    const { request } = await setup();
    const res = await request("POST", "kube/config", body);
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ errors: [message] });
  });

  it("refuses an expired gateway token at write time", async () => {
    const { request } = await setup({ [TOKEN_PATH]: gatewayJwt(1_000) });
    const res = await request("POST", "kube/config", { kubernetes_host: HOST, use_gateway_service_account: true });
    expect(res.body).toEqual({ errors: [`field "use_gateway_service_account": the server's service-account token at ${TOKEN_PATH} has expired`] });
  });

  it("keeps a target that a role uses", async () => {
    const { request } = await setup();
    await request("POST", "kube/targets/prod", { kubernetes_host: HOST, service_account_jwt: "t" });
    await request("POST", "kube/roles/app", { service_account_name: "app", allowed_kubernetes_namespaces: ["ns"], target: "prod" });
    const res = await request("DELETE", "kube/targets/prod");
    expect(res.body).toEqual({ errors: [`target "prod" is used by role "app"; delete or change that first`] });
  });

  it("refuses invalid target names", async () => {
    const { request } = await setup();
    const res = await request("POST", "kube/targets/-bad-", { kubernetes_host: HOST, service_account_jwt: "t" });
    expect(res.body).toEqual({ errors: [`invalid target name "-bad-"`] });
  });
});
