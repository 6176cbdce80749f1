import { SignJWT } from "jose";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { parseServiceAccountJwt } from "./claims.js";
import { createReviewCache } from "./review-cache.js";
import {
  EMPTY_CONFIG,
  HOST,
  T0,
  type ClusterKeys,
  type K8sHarness,
  clusterKeys,
  createK8sHarness,
  fakeCluster,
  legacyToken,
  projectedToken,
  recordingLogger,
} from "./test-harness.js";
import { verifyWithCluster, type Cluster } from "./verify.js";

const denied = (reason: string) => ({ status: 403, message: `permission denied: ${reason}` });
const UID = "aa9aa8ff-98d0-11e7-9bb7-0800276d99bf";

let keys: ClusterKeys;
let h: K8sHarness;

beforeAll(async () => {
  keys = await clusterKeys("RS256");
});

beforeEach(async () => {
  h = await createK8sHarness(keys);
  await h.write("config", { kubernetes_host: HOST, validation: "jwks" });
  await h.write("role/demo", { bound_service_account_names: "myapp", bound_service_account_namespaces: "default" });
});

const sign = (payload: Record<string, unknown>) =>
  new SignJWT(payload).setProtectedHeader({ alg: keys.alg, kid: keys.kid }).sign(keys.privateKey);

describe("validation=jwks: tokens without exp", () => {
  it("accepts a legacy secret-based token, which Kubernetes mints without exp", async () => {
    await expect(h.login({ role: "demo", jwt: await legacyToken(keys) })).resolves.toBeDefined();
    h.advance(400 * 24 * 3600 * 1000);
    await expect(h.login({ role: "demo", jwt: await legacyToken(keys) })).resolves.toBeDefined();
    expect(h.clusters.get(HOST)?.reviews).toHaveLength(0);
  });

  it("refuses a projected (bound) token without exp", async () => {
    const jwt = await projectedToken(keys, { exp: null });
    await expect(h.login({ role: "demo", jwt })).rejects.toMatchObject(denied("token not authenticated"));
    expect(h.logger.text()).toContain("token without exp is not a legacy secret-based token");
  });

  it("refuses a token carrying both shapes without exp", async () => {
    const jwt = await sign({
      iss: "kubernetes/serviceaccount",
      "kubernetes.io": { namespace: "default", serviceaccount: { name: "myapp", uid: UID } },
      "kubernetes.io/serviceaccount/secret.name": "myapp-token-pd21c",
      sub: "system:serviceaccount:default:myapp",
    });
    await expect(h.login({ role: "demo", jwt })).rejects.toMatchObject(denied("token not authenticated"));
  });

  it("refuses a legacy-shaped token without exp that names no secret", async () => {
    await expect(h.login({ role: "demo", jwt: await legacyToken(keys, { secretName: "" }) })).rejects.toMatchObject(
      denied("token not authenticated"),
    );
  });

  it("still accepts a projected token with exp, and refuses it once expired (with a minute of leeway)", async () => {
    const jwt = await projectedToken(keys, { iat: 0, exp: 600 });
    await expect(h.login({ role: "demo", jwt })).resolves.toBeDefined();
    h.advance(659 * 1000);
    await expect(h.login({ role: "demo", jwt })).resolves.toBeDefined();
    h.advance(2 * 1000);
    await expect(h.login({ role: "demo", jwt })).rejects.toMatchObject(denied("token expired"));
  });
});

describe("verifyWithCluster: a local check rests on the verified payload", () => {
  const cluster = (): Cluster => {
    const now = () => h.now();
    return {
      name: "default",
      config: { ...EMPTY_CONFIG, kubernetesHost: HOST, validation: "jwks" },
      connection: fakeCluster(keys, now).connection(),
      cache: createReviewCache(now),
    };
  };
  const opts = () => ({ audiences: [], now: () => h.now(), logger: recordingLogger(), caller: {} });

  it("checks exp and nbf even when the caller's claims leave them out", async () => {
    const expired = await projectedToken(keys, { iat: -7200, exp: -3600 });
    const { exp: _exp, ...withoutExp } = parseServiceAccountJwt(expired);
    await expect(verifyWithCluster(expired, withoutExp, cluster(), opts())).rejects.toMatchObject(denied("token expired"));

    const early = await projectedToken(keys, { iat: 0, nbf: 3600, exp: 7200 });
    const { nbf: _nbf, ...withoutNbf } = parseServiceAccountJwt(early);
    await expect(verifyWithCluster(early, withoutNbf, cluster(), opts())).rejects.toMatchObject(denied("token not yet valid"));
  });

  it("refuses a verified payload whose times are not numbers", async () => {
    const jwt = await sign({
      "kubernetes.io": { namespace: "default", serviceaccount: { name: "myapp", uid: UID } },
      exp: String(T0 + 3600),
    });
    const claims = { namespace: "default", name: "myapp", uid: UID, secretName: "", audiences: [] };
    await expect(verifyWithCluster(jwt, claims, cluster(), opts())).rejects.toMatchObject(denied("token not authenticated"));
  });
});
