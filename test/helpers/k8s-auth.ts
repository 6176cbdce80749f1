/**
 * What the kubernetes auth method's integration suites share on top of
 * test/helpers/k8s.ts: an in-process latchkey whose log lines are kept,
 * reviewer identities with or without system:auth-delegator, client
 * certificates the test API server accepts, and the assertions every login
 * response must pass (exact refusals, no JWT anywhere).
 *
 *   const lk = await authServer();
 *   await lk.enable("kubernetes");
 *   const res = await lk.login("kubernetes", { role: "app", jwt });
 */
import { KeyObject, createPrivateKey, randomBytes, webcrypto } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import * as x509 from "@peculiar/x509";
import { CompactSign, decodeProtectedHeader, generateKeyPair, type CryptoKey } from "jose";
import { pino } from "pino";
import { expect } from "vitest";
import type { Subject } from "../../src/kube/types.js";
import {
  createClusterRoleBinding,
  createServiceAccount,
  kubeTestEnv,
  serviceAccountSubject,
  tokenRequest,
  uniqueName,
  type CreatedRef,
} from "./k8s.js";
import { devServer, type DevServer, type TestResponse } from "./server.js";

/** A compact JWS whose header and payload are JSON objects: any Kubernetes token. */
const JWT_SHAPE = /eyJ[A-Za-z0-9_-]{2,}\.eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*/;

export interface AuthServer {
  /** As devServer's, and every response is checked to carry nothing shaped like a JWT. */
  request: DevServer["request"];
  /** Every line the server logged (debug and above), newline-separated JSON. */
  logs(): string;
  /** Mounts the kubernetes auth method at `auth/<path>`. */
  enable(path: string, options?: Record<string, string>): Promise<void>;
  /** A write as root that must succeed (config, role, policy, secret). */
  write(path: string, body: object): Promise<void>;
  /** `POST auth/<mount>/login` without a token; the JWT sent must not come back, whatever the outcome. */
  login(mount: string, body: { role: string; jwt: string; config?: string }): Promise<TestResponse>;
  close(): Promise<void>;
}

/** A dev-mode latchkey, driven in-process, logging at debug level into memory. */
export async function authServer(): Promise<AuthServer> {
  const lines: string[] = [];
  const server = await devServer({}, pino({ level: "debug" }, { write: (line: string) => void lines.push(line) }));
  const request: DevServer["request"] = async (method, path, opts) => {
    const res = await server.request(method, path, opts);
    expectNoJwt(res.text);
    return res;
  };
  return {
    request,
    logs: () => lines.join(""),
    async enable(path, options) {
      const res = await request("POST", `sys/auth/${path}`, { body: { type: "kubernetes", ...(options && { options }) } });
      expect(res.status, res.text).toBe(204);
    },
    async write(path, body) {
      const res = await request("POST", path, { body });
      expect([200, 204], `${path}: ${res.text}`).toContain(res.status);
    },
    async login(mount, body) {
      const res = await request("POST", `auth/${mount}/login`, { token: null, body });
      expectNoJwt(res.text, [body.jwt]);
      return res;
    },
    close: () => server.close(),
  };
}

/** `text` carries none of `tokens` and nothing else shaped like a JWT. */
export function expectNoJwt(text: string, tokens: readonly string[] = []): void {
  for (const token of tokens) expect(text.includes(token), "a token leaked").toBe(false);
  expect(JWT_SHAPE.exec(text)?.[0] ?? "", "something shaped like a JWT leaked").toBe("");
}

/** A refusal: 403 with Vault's `permission denied` and latchkey's short reason, nothing more. */
export function expectDenied(res: TestResponse, reason: string): void {
  expect({ status: res.status, body: res.json }).toEqual({
    status: 403,
    body: { errors: [`permission denied: ${reason}`] },
  });
}

/** An upstream failure the operator must fix: `status` and the exact message. */
export function expectUpstream(res: TestResponse, status: 502 | 503 | 504, message: string): void {
  expect({ status: res.status, body: res.json }).toEqual({ status, body: { errors: [message] } });
}

/** A successful login: 200 with Vault's `auth` block; returns it. */
export function expectLoggedIn(res: TestResponse): {
  client_token: string;
  policies: string[];
  metadata: Record<string, string>;
  [key: string]: unknown;
} {
  expect(res.status, res.text).toBe(200);
  expect(res.json.auth.client_token).toMatch(/^lks\./);
  return res.json.auth;
}

/** The API server's CA bundle (PEM), for `kubernetes_ca_cert` and the local `ca.crt`. */
export function clusterCaPem(): string {
  const { caPem } = kubeTestEnv();
  if (!caPem) throw new Error("the integration tests need the API server's CA (KUBE_CA or the kubeconfig's certificate-authority)");
  return caPem;
}

/** Binds `system:auth-delegator` (create tokenreviews and subjectaccessreviews) to `subject`. */
export async function grantAuthDelegator(subject: Subject): Promise<CreatedRef> {
  return createClusterRoleBinding(uniqueName("lk-auth-delegator"), "system:auth-delegator", [subject]);
}

/**
 * A service account for latchkey to review tokens with, and a token of it.
 * `delegator: false` leaves it without system:auth-delegator, as an operator
 * who forgot the ClusterRoleBinding would.
 */
export async function reviewerAccount(namespace: string, name: string, opts: { delegator: boolean }): Promise<string> {
  await createServiceAccount(namespace, name);
  if (opts.delegator) await grantAuthDelegator(serviceAccountSubject(namespace, name));
  return (await tokenRequest(namespace, name, { expirationSeconds: 3600 })).token;
}

/**
 * Where the cluster's CA private key is: KUBE_CA_KEY, else `ca.key` beside
 * KUBE_CA (scripts/k8s-test-cluster.sh keeps it there). The kube-apiserver
 * alone approves CSRs but never signs them (that is kube-controller-manager's
 * csrsigning controller), so a client certificate has to be signed here.
 */
function clusterCaKeyPath(): string {
  const explicit = process.env.KUBE_CA_KEY;
  const beside = process.env.KUBE_CA ? join(dirname(process.env.KUBE_CA), "ca.key") : undefined;
  const path = explicit || beside;
  if (!path || !existsSync(path)) {
    throw new Error(
      "a client certificate for the API server needs its CA key: set KUBE_CA_KEY, or KUBE_CA next to a ca.key " +
        "(scripts/k8s-test-cluster.sh does); the test cluster has no controller-manager to sign CSRs",
    );
  }
  return path;
}

/**
 * A client certificate (ECDSA P-256, valid an hour) for user `user`,
 * signed by the cluster's CA, which the API server trusts through
 * --client-ca-file. Returned as PEM, the key as PKCS#8.
 */
export async function clientCertificate(user: string): Promise<{ cert: string; key: string }> {
  x509.cryptoProvider.set(webcrypto);
  const caCert = new x509.X509Certificate(clusterCaPem());
  const rsa = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
  // PKCS#1 or PKCS#8, whichever openssl wrote; WebCrypto imports only PKCS#8.
  const caDer = createPrivateKey(readFileSync(clusterCaKeyPath(), "utf8")).export({ format: "der", type: "pkcs8" });
  const caKey = await webcrypto.subtle.importKey("pkcs8", caDer, rsa, false, ["sign"]);
  const ec = { name: "ECDSA", namedCurve: "P-256" };
  const pair = await webcrypto.subtle.generateKey(ec, true, ["sign", "verify"]);
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: `01${randomBytes(8).toString("hex")}`,
    subject: `CN=${user}`,
    // The CA's subject exactly as encoded: Go chains certificates by comparing raw name bytes.
    issuer: caCert.subjectName,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 3_600_000),
    publicKey: pair.publicKey,
    signingKey: caKey,
    signingAlgorithm: rsa,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
    ],
  });
  const key = KeyObject.from(pair.privateKey).export({ format: "pem", type: "pkcs8" }).toString();
  return { cert: cert.toString("pem"), key };
}

/** RSA key generation takes a while; one forger's key serves a whole suite. */
let forgerKey: Promise<CryptoKey> | undefined;

/**
 * The same header (alg, kid) and claims as `jwt`, signed with a key the
 * cluster never saw: what a thief who can read a token's claims could make.
 */
export async function forgedToken(jwt: string): Promise<string> {
  const payload = Buffer.from(jwt.split(".")[1] ?? "", "base64url");
  const header = decodeProtectedHeader(jwt);
  forgerKey ??= generateKeyPair("RS256").then((pair) => pair.privateKey);
  const privateKey = await forgerKey;
  return new CompactSign(payload).setProtectedHeader({ ...header, alg: header.alg ?? "RS256" }).sign(privateKey);
}

/**
 * Calls `fn` until `again` is false or 20 s have passed; returns the last
 * result. The API server sees deletions through informers, a moment late.
 */
export async function retryWhile<T>(fn: () => Promise<T>, again: (value: T) => boolean): Promise<T> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const value = await fn();
    if (!again(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
