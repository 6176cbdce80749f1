import * as x509 from "@peculiar/x509";
import { describe, expect, it } from "vitest";
import { CLIENT_SIGNER } from "./path-csr.js";
import { CERT, engineCore, fakeCluster, HOST } from "./test-harness.js";

const CSRS = "/apis/certificates.k8s.io/v1/certificatesigningrequests";

describe("target certificate requests", () => {
  it("files a CSR for the kube-apiserver-client signer and keeps its key only in the barrier", async () => {
    const cluster = fakeCluster();
    const lk = await engineCore(cluster);
    await lk.request("POST", "kube/targets/prod", { kubernetes_host: HOST, service_account_jwt: "bootstrap" });
    const res = await lk.request("POST", "kube/targets/prod/csr", { common_name: "latchkey-prod", organization: "ops,audit" });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const name = res.body.data.csr_name as string;
    expect(name).toMatch(/^latchkey-prod-[0-9a-f]{8}$/);
    const obj = cluster.objects.get(`${CSRS}/${name}`) as Record<string, any>;
    expect(obj.spec.signerName).toBe(CLIENT_SIGNER);
    expect(obj.spec.usages).toEqual(["digital signature", "client auth"]);
    const request = new x509.Pkcs10CertificateRequest(Buffer.from(obj.spec.request, "base64").toString("utf8"));
    expect(request.subject).toBe("CN=latchkey-prod, O=ops, O=audit");
    expect(await request.verify()).toBe(true);
    expect(JSON.stringify(res.body)).not.toContain("PRIVATE KEY");
    const disk = await lk.stored();
    expect(disk).not.toContain("PRIVATE KEY");
    expect(disk).not.toContain("latchkey-prod");
    expect(disk).not.toContain("bootstrap");
  });

  it("installs only a certificate for its own key, and keeps the request when the cluster refuses it", async () => {
    const cluster = fakeCluster();
    const lk = await engineCore(cluster);
    await lk.request("POST", "kube/config", { kubernetes_host: HOST, service_account_jwt: "bootstrap" });
    const res = await lk.request("POST", "kube/config/csr", { common_name: "me" });
    const obj = cluster.objects.get(`${CSRS}/${res.body.data.csr_name}`) as Record<string, any>;
    obj.status = { conditions: [{ type: "Approved", status: "True" }], certificate: Buffer.from(CERT).toString("base64") };
    const install = await lk.request("POST", "kube/config/csr/install");
    expect(install.status).toBe(400);
    expect(install.body.errors[0]).toMatch(/key/);
    expect((await lk.request("GET", "kube/config")).body.data).toMatchObject({ service_account_jwt_set: true, client_key_set: false });
  });

  it("forgets the key when the cluster refuses to create the CSR", async () => {
    const cluster = fakeCluster();
    const lk = await engineCore(cluster);
    await lk.request("POST", "kube/targets/t", { kubernetes_host: HOST, service_account_jwt: "bootstrap" });
    cluster.fail("POST", /certificatesigningrequests/, 403);
    const res = await lk.request("POST", "kube/targets/t/csr", { common_name: "me" });
    expect(res).toEqual({
      status: 502,
      body: { errors: [`kubernetes target "t" is not allowed to create certificatesigningrequests.certificates.k8s.io (cluster-wide)`] },
    });
    expect((await lk.request("GET", "kube/targets/t/csr")).status).toBe(404);
  });
});
