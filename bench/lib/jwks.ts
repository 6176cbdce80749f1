import { randomUUID } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, SignJWT, type JWK } from "jose";

/** Service-account JWTs of `pods` different pods, signed as a cluster's issuer signs projected tokens (RS256, 2048-bit key). */
export async function serviceAccountJwts(pods: number): Promise<{ jwts: string[]; publicJwk: JWK }> {
  const { privateKey, publicKey } = await generateKeyPair("RS256", { modulusLength: 2048 });
  const kid = "bench-signing-key";
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: "RS256", use: "sig" };
  const now = Math.floor(Date.now() / 1000);
  const jwts: string[] = [];
  for (let i = 0; i < pods; i++) {
    const namespace = `team-${i % 20}`;
    const name = `app-${i % 100}`;
    jwts.push(
      await new SignJWT({
        "kubernetes.io": {
          namespace,
          serviceaccount: { name, uid: randomUUID() },
          pod: { name: `${name}-pod-${i}`, uid: randomUUID() },
        },
      })
        .setProtectedHeader({ alg: "RS256", kid })
        .setIssuer("https://kubernetes.default.svc.cluster.local")
        .setSubject(`system:serviceaccount:${namespace}:${name}`)
        .setAudience("https://kubernetes.default.svc.cluster.local")
        .setIssuedAt(now)
        .setNotBefore(now)
        .setExpirationTime(now + 3600)
        .sign(privateKey),
    );
  }
  return { jwts, publicJwk };
}

/** Serves `{keys: [jwk]}` on loopback, as a cluster's /openid/v1/jwks does; latchkey fetches it once and caches it. */
export async function serveJwks(jwk: JWK): Promise<{ url: string; close(): Promise<void> }> {
  const body = JSON.stringify({ keys: [jwk] });
  const server = createServer((_req, res) => res.writeHead(200, { "content-type": "application/json" }).end(body));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/openid/v1/jwks`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
