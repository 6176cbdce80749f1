import {
  constants,
  createPublicKey,
  generateKeyPairSync,
  KeyObject,
  sign as signBytes,
  type KeyPairKeyObjectResult,
  type SignKeyObjectInput,
} from "node:crypto";
import { CompactSign, exportJWK, importJWK } from "jose";
import { describe, expect, it } from "vitest";
import { ALLOWED_ALGORITHMS } from "./claims.js";
import { keyObjectOf, splitCompactJws, verifyCompactJws } from "./jws.js";

const payload = Buffer.from(JSON.stringify({ sub: "system:serviceaccount:default:app", exp: 2_000_000_000 }));
const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
const keysFor: Record<string, KeyPairKeyObjectResult> = {
  RS: rsa,
  PS: rsa,
  ES256: generateKeyPairSync("ec", { namedCurve: "P-256" }),
  ES384: generateKeyPairSync("ec", { namedCurve: "P-384" }),
  ES512: generateKeyPairSync("ec", { namedCurve: "P-521" }),
};
const pairFor = (alg: string) => keysFor[alg] ?? keysFor[alg.slice(0, 2)];

/** jose signs, as the API server's go-jose would; the check under test is node:crypto's. */
const signed = (alg: string, header: Record<string, unknown> = {}, key = pairFor(alg).privateKey) =>
  new CompactSign(payload).setProtectedHeader({ alg, ...header }).sign(key);

const verifies = (jws: string, key: KeyObject, algorithms = ALLOWED_ALGORITHMS) => {
  const parts = splitCompactJws(jws);
  return parts !== undefined && verifyCompactJws(parts, key, algorithms);
};

/** A compact JWS with the given header and a real RS256 signature over it. */
function withHeader(header: Record<string, unknown>, key: KeyObject | SignKeyObjectInput = rsa.privateKey): string {
  const input = `${Buffer.from(JSON.stringify(header)).toString("base64url")}.${payload.toString("base64url")}`;
  return `${input}.${signBytes("sha256", Buffer.from(input), key).toString("base64url")}`;
}

describe("verifyCompactJws", () => {
  it.each(ALLOWED_ALGORITHMS)("verifies %s as jose signs it, and returns the payload the signature covers", async (alg) => {
    const jws = await signed(alg, { kid: "k1" });
    expect(verifies(jws, pairFor(alg).publicKey)).toBe(true);
    expect(splitCompactJws(jws)?.payload.equals(payload)).toBe(true);
  });

  it.each(["RS256", "PS256", "ES256"])("refuses %s with the payload or the signature changed", async (alg) => {
    const [h, p, s] = (await signed(alg)).split(".");
    const other = Buffer.from(JSON.stringify({ sub: "system:serviceaccount:kube-system:admin" })).toString("base64url");
    expect(verifies(`${h}.${other}.${s}`, pairFor(alg).publicKey)).toBe(false);
    const flipped = Buffer.from(s, "base64url");
    flipped[10] ^= 1;
    expect(verifies(`${h}.${p}.${flipped.toString("base64url")}`, pairFor(alg).publicKey)).toBe(false);
    expect(verifies(`${h}.${p}.`, pairFor(alg).publicKey)).toBe(false);
  });

  it("refuses a token signed by another key", async () => {
    const other = generateKeyPairSync("rsa", { modulusLength: 2048 });
    expect(verifies(await signed("RS256", {}, other.privateKey), rsa.publicKey)).toBe(false);
  });

  it("refuses an algorithm outside the allowed list, whatever the key", async () => {
    expect(verifies(await signed("RS256"), rsa.publicKey, ["ES256"])).toBe(false);
    expect(verifies(withHeader({ alg: "none" }), rsa.publicKey)).toBe(false);
    expect(verifies(withHeader({ alg: "HS256" }), rsa.publicKey, [...ALLOWED_ALGORITHMS, "HS256"])).toBe(false);
    expect(verifies(withHeader({}), rsa.publicKey)).toBe(false);
  });

  it("refuses a key that does not fit the algorithm", async () => {
    // An ES256 signature checked against the wrong curve, an RSA header with an EC key, and the reverse.
    expect(verifies(await signed("ES256"), keysFor.ES384.publicKey)).toBe(false);
    expect(verifies(await signed("ES256"), rsa.publicKey)).toBe(false);
    expect(verifies(withHeader({ alg: "RS256" }), keysFor.ES256.publicKey)).toBe(false);
    // A PSS-only key serves PS*, never RS*.
    const pss = generateKeyPairSync("rsa-pss", { modulusLength: 2048 });
    const pssSigner = { key: pss.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 };
    expect(verifies(withHeader({ alg: "PS256" }, pssSigner), pss.publicKey)).toBe(true);
    expect(verifies(withHeader({ alg: "RS256" }, pssSigner), pss.publicKey)).toBe(false);
  });

  it("refuses RSA keys under 2048 bits", () => {
    const small = generateKeyPairSync("rsa", { modulusLength: 1024 });
    expect(verifies(withHeader({ alg: "RS256" }, small.privateKey), small.publicKey)).toBe(false);
  });

  it("refuses a private key in place of a public one", () => {
    expect(verifies(withHeader({ alg: "RS256" }), rsa.privateKey)).toBe(false);
    expect(verifies(withHeader({ alg: "RS256" }), createPublicKey(rsa.privateKey))).toBe(true);
  });

  it("refuses critical header parameters and unencoded payloads, which it does not understand", () => {
    expect(verifies(withHeader({ alg: "RS256" }), rsa.publicKey)).toBe(true);
    expect(verifies(withHeader({ alg: "RS256", crit: ["exp"], exp: 1 }), rsa.publicKey)).toBe(false);
    expect(verifies(withHeader({ alg: "RS256", b64: false, crit: ["b64"] }), rsa.publicKey)).toBe(false);
    expect(verifies(withHeader({ alg: "RS256", b64: true }), rsa.publicKey)).toBe(false);
  });
});

describe("splitCompactJws", () => {
  it.each([
    ["two parts", "eyJhbGciOiJSUzI1NiJ9.e30"],
    ["four parts", "eyJhbGciOiJSUzI1NiJ9.e30.c2ln.c2ln"],
    ["an empty header", ".e30.c2ln"],
    ["a header that is not JSON", "bm90IGpzb24.e30.c2ln"],
    ["a header that is not an object", `${Buffer.from("[1]").toString("base64url")}.e30.c2ln`],
  ])("refuses %s", (_what, jws) => {
    expect(splitCompactJws(jws)).toBeUndefined();
  });
});

describe("keyObjectOf", () => {
  it("turns a WebCrypto key into one KeyObject, made once", async () => {
    const key = (await importJWK(await exportJWK(rsa.publicKey), "RS256")) as Parameters<typeof keyObjectOf>[0];
    const object = keyObjectOf(key);
    expect(object).toBeInstanceOf(KeyObject);
    expect(object.equals(rsa.publicKey)).toBe(true);
    expect(keyObjectOf(key)).toBe(object);
  });
});
