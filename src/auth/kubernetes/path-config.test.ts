import { webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { HOST, type ClusterKeys, type K8sHarness, clusterKeys, createK8sHarness } from "./test-harness.js";

const REVIEWER_JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyZXZpZXdlciJ9.c2lnbmF0dXJl";
const bad = (message: string) => ({ status: 400, message });

let keys: ClusterKeys;
let ca: { cert: string; key: string };
let other: { cert: string; key: string };
let h: K8sHarness;

/** A self-signed certificate and its PKCS#8 key, PEM. */
async function selfSigned(cn: string): Promise<{ cert: string; key: string }> {
  const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
  const pair = await webcrypto.subtle.generateKey(alg, true, ["sign", "verify"]);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "01",
    name: `CN=${cn}`,
    notBefore: new Date("2024-01-01T00:00:00Z"),
    notAfter: new Date("2034-01-01T00:00:00Z"),
    keys: pair,
    signingAlgorithm: alg,
  });
  const der = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", pair.privateKey)).toString("base64");
  const key = `-----BEGIN PRIVATE KEY-----\n${der.match(/.{1,64}/g)?.join("\n")}\n-----END PRIVATE KEY-----\n`;
  return { cert: cert.toString("pem"), key };
}

beforeAll(async () => {
  keys = await clusterKeys();
  ca = await selfSigned("latchkey-test-ca");
  other = await selfSigned("latchkey-test-other");
});

beforeEach(async () => {
  h = await createK8sHarness(keys);
});

describe("config: the reference flow", () => {
  it("stores Vault's parameters and never returns the reviewer JWT", async () => {
    await h.write("config", { token_reviewer_jwt: REVIEWER_JWT, kubernetes_host: "https://192.168.99.100:8443", kubernetes_ca_cert: ca.cert });
    const resp = await h.call("read", "config");
    expect(resp).toEqual({
      data: {
        kubernetes_host: "https://192.168.99.100:8443",
        kubernetes_ca_cert: ca.cert.trim() + "\n",
        token_reviewer_jwt_set: true,
        pem_keys: [],
        issuer: "",
        disable_iss_validation: true,
        disable_local_ca_jwt: false,
        client_cert: "",
        client_key_set: false,
        validation: "tokenreview",
        jwks_url: "",
        review_cache_ttl: 0,
        access_id: "",
        signing_key_set: false,
        token_exp: 300,
      },
    });
    expect(JSON.stringify(resp)).not.toContain(REVIEWER_JWT);
  });

  it("defaults the host to the in-cluster service when running in a pod", async () => {
    h = await createK8sHarness(keys, { env: { KUBERNETES_SERVICE_HOST: "10.96.0.1", KUBERNETES_SERVICE_PORT: "443" } });
    await h.write("config", {});
    expect((await h.call("read", "config"))?.data?.kubernetes_host).toBe("https://10.96.0.1:443");
  });

  it("sets Vault's default issuer when issuer validation is turned on", async () => {
    await h.write("config", { kubernetes_host: HOST, disable_iss_validation: "false" });
    expect((await h.call("read", "config"))?.data).toMatchObject({
      disable_iss_validation: false,
      issuer: "kubernetes/serviceaccount",
    });
  });

  it("replaces the whole config on write, as Vault does", async () => {
    await h.write("config", { kubernetes_host: HOST, token_reviewer_jwt: REVIEWER_JWT, review_cache_ttl: "5s" });
    await h.write("config", { kubernetes_host: HOST });
    expect((await h.call("read", "config"))?.data).toMatchObject({ token_reviewer_jwt_set: false, review_cache_ttl: 0 });
  });

  it("answers 404 for a config never written", async () => {
    await expect(h.call("read", "config")).rejects.toMatchObject({ status: 404, message: "" });
  });
});

describe("config: named configs", () => {
  it("keeps several, lists them on config and config/, and treats config/default as config", async () => {
    await expect(h.call("list", "config")).rejects.toMatchObject({ status: 404 });
    await h.write("config", { kubernetes_host: HOST });
    await h.write("config/east", { kubernetes_host: "https://east:6443" });
    expect(await h.call("list", "config")).toEqual({ data: { keys: ["default", "east"] } });
    expect(await h.call("list", "config/")).toEqual({ data: { keys: ["default", "east"] } });
    expect((await h.call("read", "config/default"))?.data?.kubernetes_host).toBe(HOST);
    await h.call("delete", "config/east");
    expect(await h.call("list", "config")).toEqual({ data: { keys: ["default"] } });
  });

  it("refuses a bad config name", async () => {
    await expect(h.write("config/a b", { kubernetes_host: HOST })).rejects.toMatchObject(bad('invalid config name "a b"'));
  });
});

describe("config: validation", () => {
  it.each([
    [{}, 'no host provided: "kubernetes_host" is required'],
    [{ kubernetes_host: "ftp://x" }, 'field "kubernetes_host" must be an http(s) URL'],
    [{ kubernetes_host: "not a url" }, 'field "kubernetes_host" must be an http(s) URL'],
    [{ kubernetes_host: HOST, kubernetes_ca_cert: "hello" }, 'field "kubernetes_ca_cert" must be PEM encoded (or base64 of PEM)'],
    [{ kubernetes_host: HOST, token_reviewer_jwt: "not-a-jwt" }, 'field "token_reviewer_jwt" must be a JWT'],
    [{ kubernetes_host: HOST, validation: "oidc" }, 'field "validation" must be "tokenreview" or "jwks"'],
    [{ kubernetes_host: HOST, review_cache_ttl: 11 }, 'field "review_cache_ttl" must be between 0 and 10 seconds'],
    [{ kubernetes_host: HOST, review_cache_ttl: "1m" }, 'field "review_cache_ttl" must be between 0 and 10 seconds'],
    [{ kubernetes_host: HOST, jwks_url: "file:///etc/passwd" }, 'field "jwks_url" must be an http(s) URL'],
    [{ validation: "jwks" }, 'no host provided: "kubernetes_host" is required'],
  ])("refuses %j", async (input, message) => {
    await expect(h.write("config", input)).rejects.toMatchObject(bad(message));
  });

  it("accepts a CA bundle as PEM or as base64 of PEM, and refuses a key in its place", async () => {
    await h.write("config", { kubernetes_host: HOST, kubernetes_ca_cert: Buffer.from(ca.cert).toString("base64") });
    expect((await h.call("read", "config"))?.data?.kubernetes_ca_cert).toBe(ca.cert.trim() + "\n");
    await h.write("config", { kubernetes_host: HOST, kubernetes_ca_cert: ca.cert + other.cert });
    await expect(h.write("config", { kubernetes_host: HOST, kubernetes_ca_cert: ca.key })).rejects.toMatchObject(
      bad('field "kubernetes_ca_cert" must contain only certificates'),
    );
  });

  it("takes pem_keys as public keys or certificates, never private keys", async () => {
    await h.write("config", { validation: "jwks", pem_keys: [keys.publicKeyPem, ca.cert] });
    expect((await h.call("read", "config"))?.data?.pem_keys).toHaveLength(2);
    await expect(h.write("config", { validation: "jwks", pem_keys: [ca.key] })).rejects.toMatchObject(
      bad('field "pem_keys" entry 0 must be a public key or a certificate'),
    );
  });

  it("takes a client certificate with its key, never returns the key, and checks they match", async () => {
    await h.write("config", { kubernetes_host: HOST, client_cert: ca.cert, client_key: ca.key });
    const resp = await h.call("read", "config");
    expect(resp?.data).toMatchObject({ client_cert: ca.cert.trim() + "\n", client_key_set: true });
    expect(JSON.stringify(resp)).not.toContain("PRIVATE KEY");
    await expect(h.write("config", { kubernetes_host: HOST, client_cert: ca.cert })).rejects.toMatchObject(
      bad('"client_cert" and "client_key" must be given together'),
    );
    await expect(h.write("config", { kubernetes_host: HOST, client_cert: ca.cert, client_key: other.key })).rejects.toMatchObject(
      bad('field "client_key" does not match "client_cert"'),
    );
    await expect(
      h.write("config", { kubernetes_host: HOST, client_cert: ca.cert, client_key: ca.key, token_reviewer_jwt: REVIEWER_JWT }),
    ).rejects.toMatchObject(bad('"token_reviewer_jwt" and "client_cert" are mutually exclusive'));
  });

  it("never echoes a secret in a refusal", async () => {
    const secret = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0";
    await expect(h.write("config", { kubernetes_host: HOST, token_reviewer_jwt: secret })).rejects.toSatisfy(
      (err: Error) => !err.message.includes(secret) && !err.message.includes("eyJ"),
    );
  });
});
