import { createPrivateKey } from "node:crypto";
import { SignJWT } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { generateAccessKeyPair } from "./access-keys.js";
import { signAssertion, type AssertionSigning } from "./assertion-signer.js";
import { verifyAssertion } from "./assertion-verifier.js";
import { ASSERTION_ISSUER, ASSERTION_TYPE } from "./assertion.js";
import type { VerifiedIdentity } from "./types.js";

const NOW = 1_714_557_600;
const identity: VerifiedIdentity = {
  namespace: "my-namespace-a",
  name: "default",
  uid: "sa-uid",
  secretName: "",
  podName: "mypod1",
  podUid: "pod-uid",
  audiences: ["https://kubernetes.default.svc"],
  namespaceLabels: { tier: "gold" },
};
const notValid = { status: 403, message: "permission denied: login assertion not valid" };

let ec: { publicKeyPem: string; privateKeyPem: string };
let rsa: { publicKeyPem: string; privateKeyPem: string };
let signing: AssertionSigning;
const expected = () => ({ accessId: "p-abcdefg1234", publicKeyPem: ec.publicKeyPem, configName: "k8s-conf" });

beforeAll(async () => {
  ec = await generateAccessKeyPair("ec");
  rsa = await generateAccessKeyPair("rsa");
  signing = { accessId: "p-abcdefg1234", configName: "k8s-conf", privateKeyPem: ec.privateKeyPem, ttlSeconds: 300, nowSeconds: NOW };
});

describe("login assertions: signer and verifier", () => {
  it("round-trips the verified identity (EC and RSA keys)", async () => {
    expect(await verifyAssertion(await signAssertion(identity, signing), expected(), NOW + 10)).toEqual(identity);
    const viaRsa = await signAssertion(identity, { ...signing, privateKeyPem: rsa.privateKeyPem });
    expect(await verifyAssertion(viaRsa, { ...expected(), publicKeyPem: rsa.publicKeyPem }, NOW)).toEqual(identity);
  });

  it("round-trips an identity without pod or labels, with a secret name", async () => {
    const legacy: VerifiedIdentity = { namespace: "n", name: "a", uid: "u", secretName: "a-token-x", audiences: [] };
    expect(await verifyAssertion(await signAssertion(legacy, signing), expected(), NOW)).toEqual(legacy);
  });

  it("expires after token_exp", async () => {
    const assertion = await signAssertion(identity, { ...signing, ttlSeconds: 60 });
    await expect(verifyAssertion(assertion, expected(), NOW + 60 + 6)).rejects.toMatchObject(notValid);
  });

  it("is bound to its access id, its config and the access id's key", async () => {
    const assertion = await signAssertion(identity, signing);
    await expect(verifyAssertion(assertion, { ...expected(), accessId: "p-other00" }, NOW)).rejects.toMatchObject(notValid);
    await expect(verifyAssertion(assertion, { ...expected(), configName: "other" }, NOW)).rejects.toMatchObject(notValid);
    const stranger = await generateAccessKeyPair("ec");
    await expect(verifyAssertion(assertion, { ...expected(), publicKeyPem: stranger.publicKeyPem }, NOW)).rejects.toMatchObject(
      notValid,
    );
  });

  it("refuses a tampered payload and alg none", async () => {
    const [header, payload, signature] = (await signAssertion(identity, signing)).split(".");
    const claims = JSON.parse(Buffer.from(payload, "base64url").toString()) as Record<string, unknown>;
    const forged = Buffer.from(JSON.stringify({ ...claims, sub: "system:serviceaccount:kube-system:admin" })).toString("base64url");
    await expect(verifyAssertion(`${header}.${forged}.${signature}`, expected(), NOW)).rejects.toMatchObject(notValid);
    const none = Buffer.from(JSON.stringify({ alg: "none", typ: ASSERTION_TYPE })).toString("base64url");
    await expect(verifyAssertion(`${none}.${payload}.`, expected(), NOW)).rejects.toMatchObject(notValid);
  });

  it("refuses an assertion meant to live longer than an hour, even if correctly signed", async () => {
    const long = await signAssertion(identity, { ...signing, ttlSeconds: 7200 });
    await expect(verifyAssertion(long, expected(), NOW)).rejects.toMatchObject(notValid);
  });

  it("refuses a signed assertion whose claims have the wrong shape", async () => {
    const key = createPrivateKey(ec.privateKeyPem);
    const sign = (claims: Record<string, unknown>) =>
      new SignJWT(claims)
        .setProtectedHeader({ alg: "ES256", typ: ASSERTION_TYPE, kid: "p-abcdefg1234" })
        .setIssuer(ASSERTION_ISSUER)
        .setAudience("p-abcdefg1234")
        .setSubject("system:serviceaccount:n:a")
        .setIssuedAt(NOW)
        .setExpirationTime(NOW + 60)
        .setJti("j")
        .sign(key);
    const base = { config_name: "k8s-conf", k8s_aud: [] };
    for (const claims of [
      { ...base, "kubernetes.io": "n" },
      { ...base, "kubernetes.io": { namespace: "n", serviceaccount: { name: "a", uid: 7 } } },
      { ...base, "kubernetes.io": { namespace: "n", serviceaccount: { name: "b", uid: "u" } } },
      { ...base, k8s_aud: "x", "kubernetes.io": { namespace: "n", serviceaccount: { name: "a", uid: "u" } } },
      { ...base, namespace_labels: ["x"], "kubernetes.io": { namespace: "n", serviceaccount: { name: "a", uid: "u" } } },
    ]) {
      await expect(verifyAssertion(await sign(claims), expected(), NOW)).rejects.toMatchObject(notValid);
    }
  });
});
