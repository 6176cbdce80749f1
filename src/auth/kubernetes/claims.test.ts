import { beforeAll, describe, expect, it } from "vitest";
import { MAX_JWT_LENGTH, checkTokenTimes, parseServiceAccountJwt } from "./claims.js";
import { type ClusterKeys, T0, clusterKeys, legacyToken, projectedToken } from "./test-harness.js";

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
const jwtOf = (header: unknown, payload: unknown, signature = "c2ln") => `${b64(header)}.${b64(payload)}.${signature}`;
const invalid = (why: string) => ({ status: 400, message: `invalid jwt: ${why}` });
const projected = (k8s: unknown, extra: Record<string, unknown> = {}) => jwtOf({ alg: "RS256" }, { "kubernetes.io": k8s, ...extra });
const SA = { name: "myapp", uid: "u-1" };

let keys: ClusterKeys;
beforeAll(async () => {
  keys = await clusterKeys("ES256");
});

describe("parseServiceAccountJwt", () => {
  it("reads the legacy secret-based shape", async () => {
    expect(parseServiceAccountJwt(await legacyToken(keys))).toEqual({
      namespace: "default",
      name: "myapp",
      uid: "aa9aa8ff-98d0-11e7-9bb7-0800276d99bf",
      secretName: "myapp-token-pd21c",
      audiences: [],
      issuer: "kubernetes/serviceaccount",
      subject: "system:serviceaccount:default:myapp",
      exp: undefined,
      nbf: undefined,
      iat: undefined,
    });
  });

  it("reads the projected shape with its pod, audiences and times", async () => {
    const jwt = await projectedToken(keys, { namespace: "ns", name: "sa", uid: "u", pod: { name: "p", uid: "pu" }, aud: "one" });
    expect(parseServiceAccountJwt(jwt)).toEqual({
      namespace: "ns",
      name: "sa",
      uid: "u",
      secretName: "",
      podName: "p",
      podUid: "pu",
      audiences: ["one"],
      issuer: "https://kubernetes.default.svc.cluster.local",
      subject: "system:serviceaccount:ns:sa",
      exp: T0 + 3600,
      nbf: T0,
      iat: T0,
    });
  });

  it("reads the secret of a projected token bound to one", () => {
    const jwt = projected({ namespace: "n", serviceaccount: SA, secret: { name: "s", uid: "su" } });
    expect(parseServiceAccountJwt(jwt).secretName).toBe("s");
  });

  it.each([
    ["none", "signing algorithm not allowed (RS*, ES* or PS* only)"],
    ["HS256", "signing algorithm not allowed (RS*, ES* or PS* only)"],
    ["EdDSA", "signing algorithm not allowed (RS*, ES* or PS* only)"],
  ])("refuses alg %s", (alg, why) => {
    expect(() => parseServiceAccountJwt(jwtOf({ alg }, { "kubernetes.io": {} }))).toThrow(expect.objectContaining(invalid(why)));
  });

  it.each([
    ["two parts", "a.b"],
    ["an empty signature", `${b64({ alg: "RS256" })}.${b64({})}.`],
    ["standard base64 characters", `${b64({ alg: "RS256" })}.${b64({})}+/.c2ln`],
    ["an impossible base64 length", `${b64({ alg: "RS256" })}.${b64({})}.abcde`],
  ])("refuses %s", (_what, jwt) => {
    expect(() => parseServiceAccountJwt(jwt)).toThrow(expect.objectContaining(invalid("not a signed JWT (three base64url parts)")));
  });

  it.each([
    ["a header that is not JSON", `${Buffer.from("{x").toString("base64url")}.${b64({})}.c2ln`, "header is not JSON"],
    ["a payload that is an array", jwtOf({ alg: "RS256" }, [1]), "payload is not a JSON object"],
    ["a legacy token without a namespace", jwtOf({ alg: "RS256" }, { sub: "x" }), 'claim "kubernetes.io/serviceaccount/namespace" must be a non-empty string'],
    ["kubernetes.io as a string", projected("x"), 'claim "kubernetes.io" must be an object'],
    ["a projected token without a service account", projected({ namespace: "n" }), 'claim "kubernetes.io.serviceaccount" must be an object'],
    ["a numeric uid", projected({ namespace: "n", serviceaccount: { name: "a", uid: 5 } }), 'claim "kubernetes.io.serviceaccount.uid" must be a non-empty string'],
    ["a pod without uid", projected({ namespace: "n", serviceaccount: SA, pod: { name: "p" } }), 'claim "kubernetes.io.pod.uid" must be a non-empty string'],
    ["aud as a number", projected({ namespace: "n", serviceaccount: SA }, { aud: 1 }), 'claim "aud" must be a string or a list of strings'],
    ["exp as a string", projected({ namespace: "n", serviceaccount: SA }, { exp: "1" }), 'claim "exp" must be a number'],
    ["iss as an object", projected({ namespace: "n", serviceaccount: SA }, { iss: {} }), 'claim "iss" must be a string'],
    ["a sub of another account", projected({ namespace: "n", serviceaccount: SA }, { sub: "system:serviceaccount:n:admin" }), "sub does not match the service account claims"],
  ])("refuses %s", (_what, jwt, why) => {
    expect(() => parseServiceAccountJwt(jwt)).toThrow(expect.objectContaining(invalid(why)));
  });

  it("refuses anything longer than a service-account token can be", () => {
    const jwt = projected({ namespace: "n", serviceaccount: SA }, { pad: "x".repeat(MAX_JWT_LENGTH) });
    expect(() => parseServiceAccountJwt(jwt)).toThrow(expect.objectContaining(invalid(`longer than ${MAX_JWT_LENGTH} characters`)));
  });
});

describe("checkTokenTimes", () => {
  const denied = (reason: string) => expect.objectContaining({ status: 403, message: `permission denied: ${reason}` });
  it("passes tokens without times and within a minute of skew", () => {
    expect(() => checkTokenTimes({}, T0)).not.toThrow();
    expect(() => checkTokenTimes({ exp: T0 - 60, nbf: T0 + 60, iat: T0 + 60 }, T0)).not.toThrow();
  });
  it("refuses expired and not yet valid tokens", () => {
    expect(() => checkTokenTimes({ exp: T0 - 61 }, T0)).toThrow(denied("token expired"));
    expect(() => checkTokenTimes({ nbf: T0 + 61 }, T0)).toThrow(denied("token not yet valid"));
    expect(() => checkTokenTimes({ iat: T0 + 61 }, T0)).toThrow(denied("token not yet valid"));
  });
});
