import { setTimeout as sleep } from "node:timers/promises";
import { beforeAll, describe, expect, it } from "vitest";
import type { KubeClient, KubeClientConfig, RequestOptions } from "../../kube/client.js";
import { KubeApiError, KubeUnavailableError } from "../../kube/errors.js";
import type { Namespace, TokenReviewStatus } from "../../kube/types.js";
import { createKubeConnector, kubeFailure } from "./kube-cluster.js";
import type { LocalServiceAccountFiles } from "./local-files.js";
import {
  EMPTY_CONFIG,
  HOST,
  type ClusterKeys,
  clusterKeys,
  createK8sHarness,
  legacyToken,
  recordingLogger,
} from "./test-harness.js";
import type { ClusterConfig } from "./types.js";

const REVIEWER_JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyZXZpZXdlciJ9.c2lnbmF0dXJl";
const CLIENT_JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJjbGllbnQifQ.c2ln";
const FORBIDDEN_MESSAGE =
  "kubernetes TokenReview failed: the reviewer identity is not allowed to create tokenreviews (does it have system:auth-delegator?)";

/** A KubeClient that records which bearer each call carried (its `bearerToken`, else the config's token). */
function fakeKube() {
  const state = {
    built: [] as KubeClientConfig[],
    closed: 0,
    bearers: [] as string[],
    gets: {} as Record<string, unknown>,
    namespaces: {} as Record<string, Namespace>,
    fail: undefined as Error | undefined,
    delayMs: 0,
    review: (jwt: string): TokenReviewStatus => ({ authenticated: true, user: { username: `reviewed:${jwt.length}` } }),
  };
  const createClient = (config: KubeClientConfig): KubeClient => {
    state.built.push(config);
    const enter = async (opts?: RequestOptions) => {
      if (state.delayMs) await sleep(state.delayMs);
      state.bearers.push(opts?.bearerToken ?? (await config.tokenProvider?.()) ?? config.token ?? "");
      if (state.fail) throw state.fail;
    };
    const unused = async (): Promise<never> => {
      throw new Error("not used by the kubernetes auth method");
    };
    return {
      host: config.host,
      request: unused,
      create: unused,
      delete: unused,
      createTokenRequest: unused,
      async get<T>(path: string, opts?: RequestOptions): Promise<T> {
        await enter(opts);
        if (!(path in state.gets)) throw new KubeApiError(404, "NotFound", "not found", "GET", path);
        return state.gets[path] as T;
      },
      async tokenReview(jwt, _audiences, opts) {
        await enter(opts);
        return state.review(jwt);
      },
      async getNamespace(name, opts) {
        await enter(opts);
        return state.namespaces[name];
      },
      async close() {
        state.closed++;
      },
    };
  };
  return { state, createClient };
}

function localFiles(token?: string, ca?: string): LocalServiceAccountFiles & { ca?: string } {
  const files = { ca, token: async () => token, caCert: async () => files.ca };
  return files;
}

const config = (over: Partial<ClusterConfig> = {}): ClusterConfig => ({ ...EMPTY_CONFIG, kubernetesHost: HOST, ...over });

function connect(over: Partial<ClusterConfig>, local = localFiles(), now = () => 0) {
  const kube = fakeKube();
  const logger = recordingLogger();
  const fetched: string[] = [];
  const connector = createKubeConnector({
    local,
    logger,
    now,
    createClient: kube.createClient,
    fetchJson: async (url) => {
      fetched.push(url);
      return kube.state.gets[url];
    },
  });
  return { kube, logger, fetched, connection: connector(config(over), "default") };
}

describe("kube connector: reviewer identity, in Vault's order", () => {
  it("uses token_reviewer_jwt first", async () => {
    const { kube, connection } = connect({ tokenReviewerJwt: REVIEWER_JWT }, localFiles("local-token"));
    await connection.reviewer.review(CLIENT_JWT, []);
    expect(kube.state.bearers).toEqual([REVIEWER_JWT]);
  });

  it("authenticates with the client certificate, without a bearer", async () => {
    const { kube, connection } = connect({ clientCert: "CERT", clientKey: "KEY" }, localFiles("local-token"));
    await connection.reviewer.review(CLIENT_JWT, []);
    expect(kube.state.bearers).toEqual([""]);
    expect(kube.state.built[0]).toMatchObject({ clientCertPem: "CERT", clientKeyPem: "KEY" });
  });

  it("then the server's own service-account token", async () => {
    const { kube, connection } = connect({}, localFiles("local-token"));
    await connection.reviewer.review(CLIENT_JWT, []);
    expect(kube.state.bearers).toEqual(["local-token"]);
  });

  it("then the client's own JWT (also when local files are disabled)", async () => {
    const noLocal = connect({});
    await noLocal.connection.reviewer.review(CLIENT_JWT, []);
    expect(noLocal.kube.state.bearers).toEqual([CLIENT_JWT]);
    const disabled = connect({ disableLocalCaJwt: true }, localFiles("local-token"));
    await disabled.connection.reviewer.review(CLIENT_JWT, []);
    expect(disabled.kube.state.bearers).toEqual([CLIENT_JWT]);
  });

  it("keeps concurrent callers' JWTs apart on one pooled client", async () => {
    const { kube, connection } = connect({});
    kube.state.delayMs = 5;
    const jwts = ["a.a.a", "b.b.b", "c.c.c"];
    await Promise.all(jwts.map((jwt) => connection.reviewer.review(jwt, [])));
    expect([...kube.state.bearers].sort()).toEqual(jwts);
    expect(kube.state.built).toHaveLength(1);
  });

  it("looks namespaces up with the same identity", async () => {
    const { kube, connection } = connect({});
    kube.state.namespaces = { a: { metadata: { name: "a", labels: { team: "a" } } }, b: { metadata: { name: "b" } } };
    expect(await connection.namespaces.labels("a", undefined, CLIENT_JWT)).toEqual({ team: "a" });
    expect(await connection.namespaces.labels("b")).toEqual({});
    expect(await connection.namespaces.labels("gone")).toBeUndefined();
    expect(kube.state.bearers[0]).toBe(CLIENT_JWT);
  });
});

describe("kube connector: CA", () => {
  it("prefers kubernetes_ca_cert, else the local ca.crt, else the system CAs", async () => {
    const withCa = connect({ kubernetesCaCert: "CONFIG-CA" }, localFiles(undefined, "LOCAL-CA"));
    await withCa.connection.reviewer.review(CLIENT_JWT, []);
    expect(withCa.kube.state.built[0].caPem).toBe("CONFIG-CA");
    const local = connect({}, localFiles(undefined, "LOCAL-CA"));
    await local.connection.reviewer.review(CLIENT_JWT, []);
    expect(local.kube.state.built[0].caPem).toBe("LOCAL-CA");
    const none = connect({ disableLocalCaJwt: true }, localFiles(undefined, "LOCAL-CA"));
    await none.connection.reviewer.review(CLIENT_JWT, []);
    expect(none.kube.state.built[0].caPem).toBeUndefined();
  });

  it("rebuilds the client when the local CA changes, closing the old one", async () => {
    const local = localFiles(undefined, "CA-1");
    const { kube, connection } = connect({}, local);
    await connection.reviewer.review(CLIENT_JWT, []);
    await connection.reviewer.review(CLIENT_JWT, []);
    local.ca = "CA-2";
    await connection.reviewer.review(CLIENT_JWT, []);
    expect(kube.state.built.map((b) => b.caPem)).toEqual(["CA-1", "CA-2"]);
    expect(kube.state.closed).toBe(1);
    await connection.close();
    expect(kube.state.closed).toBe(2);
  });

  it("maps the TokenReview status", async () => {
    const { kube, connection } = connect({ tokenReviewerJwt: REVIEWER_JWT });
    kube.state.review = () => ({
      authenticated: true,
      user: { username: "system:serviceaccount:a:b", uid: "u", extra: { k: ["v"] } },
      audiences: ["x"],
    });
    expect(await connection.reviewer.review(CLIENT_JWT, ["x"])).toEqual({
      authenticated: true,
      username: "system:serviceaccount:a:b",
      uid: "u",
      extra: { k: ["v"] },
      audiences: ["x"],
      error: undefined,
    });
  });
});

describe("kube connector: failures", () => {
  const apiError = (status: number, reason: string) =>
    new KubeApiError(status, reason, `tokenreviews.authentication.k8s.io is forbidden: [redacted]`, "POST", "/apis/x");
  it.each([
    ["a 403 for the reviewer", apiError(403, "Forbidden"), {}, 502, FORBIDDEN_MESSAGE],
    [
      "a 401 for token_reviewer_jwt",
      apiError(401, "Unauthorized"),
      { tokenReviewerJwt: REVIEWER_JWT },
      502,
      "kubernetes TokenReview failed: the API server rejected the reviewer identity (401 Unauthorized); check token_reviewer_jwt",
    ],
    [
      "a 401 for the local token",
      apiError(401, "Unauthorized"),
      { localToken: true },
      502,
      "kubernetes TokenReview failed: the API server rejected the reviewer identity (401 Unauthorized); check the server's service-account token",
    ],
    ["a 401 for the client's own JWT", apiError(401, "Unauthorized"), {}, 403, "permission denied: token not authenticated"],
    [
      "throttling after retries",
      apiError(429, "TooManyRequests"),
      {},
      503,
      "kubernetes TokenReview failed: the API server kept throttling (429 Too Many Requests) after retries",
    ],
    ["another answer", apiError(500, "InternalError"), {}, 502, "kubernetes TokenReview failed: the API server answered 500 InternalError"],
    [
      "an unreachable API server",
      new KubeUnavailableError("network", "POST /apis/x to https://k8s.test:6443 failed: ECONNREFUSED"),
      {},
      502,
      "kubernetes TokenReview failed: https://k8s.test:6443 is unreachable",
    ],
    [
      "a timeout",
      new KubeUnavailableError("timeout", "POST /apis/x timed out after 10000 ms"),
      {},
      504,
      "kubernetes TokenReview failed: https://k8s.test:6443 did not answer in time",
    ],
    ["anything else", new Error(`boom ${CLIENT_JWT}`), {}, 502, "kubernetes TokenReview failed: boom [redacted]"],
  ] as const)("maps %s", async (_what, error, how, status, message) => {
    const over = "tokenReviewerJwt" in how ? { tokenReviewerJwt: how.tokenReviewerJwt } : {};
    const { kube, logger, connection } = connect(over, localFiles("localToken" in how ? "local-token" : undefined));
    kube.state.fail = error;
    await expect(connection.reviewer.review(CLIENT_JWT, [])).rejects.toMatchObject({ status, message });
    if (status >= 500) expect(logger.records.filter((r) => r.level === "error")).toHaveLength(1);
    expect(logger.text()).not.toContain(CLIENT_JWT);
    expect(logger.text()).not.toContain(REVIEWER_JWT);
  });

  it("names the namespace permission for a refused lookup", async () => {
    const { kube, connection } = connect({ tokenReviewerJwt: REVIEWER_JWT });
    kube.state.fail = apiError(403, "Forbidden");
    await expect(connection.namespaces.labels("a")).rejects.toMatchObject({
      status: 502,
      message:
        "kubernetes namespace lookup failed: the reviewer identity is not allowed to get namespaces (needed by bound_service_account_namespace_selector)",
    });
  });

  it("answers 502 for a config without a host", async () => {
    const { connection } = connect({ kubernetesHost: "" });
    await expect(connection.reviewer.review(CLIENT_JWT, [])).rejects.toMatchObject({
      status: 502,
      message: 'kubernetes config "default" has no kubernetes_host to call',
    });
  });

  it("answers 504 when the caller went away", () => {
    const controller = new AbortController();
    controller.abort();
    const err = kubeFailure(controller.signal.reason, {
      operation: "TokenReview",
      host: HOST,
      configName: "default",
      signal: controller.signal,
      logger: recordingLogger(),
    });
    expect(err).toMatchObject({ status: 504, message: "kubernetes TokenReview failed: the request was cancelled" });
  });
});

describe("kube connector: JWKS", () => {
  const jwks = { keys: [{ kty: "EC", crv: "P-256", x: "x", y: "y", kid: "k" }] };

  it("discovers the JWKS through the API server's OIDC document and caches it", async () => {
    let t = 0;
    const { kube, connection } = connect({ tokenReviewerJwt: REVIEWER_JWT }, localFiles(), () => t);
    kube.state.gets = {
      "/.well-known/openid-configuration": { issuer: "https://kubernetes.default.svc", jwks_uri: `${HOST}/openid/v1/jwks` },
      "/openid/v1/jwks": jwks,
    };
    expect(await connection.jwks.keySet(false, {})).toEqual(jwks);
    expect(await connection.jwks.keySet(false, {})).toEqual(jwks);
    t = 10_000;
    await connection.jwks.keySet(true, {});
    expect(kube.state.bearers).toEqual([REVIEWER_JWT, REVIEWER_JWT]);
    t = 40_000;
    await connection.jwks.keySet(true, {});
    expect(kube.state.bearers).toHaveLength(4);
    t = 40_000 + 5 * 60_000;
    await connection.jwks.keySet(false, {});
    expect(kube.state.bearers).toHaveLength(6);
  });

  it("reads the caller's signal only for a fetch, so a login served from the cached set makes none", async () => {
    const { kube, connection } = connect({ tokenReviewerJwt: REVIEWER_JWT, jwksUrl: `${HOST}/openid/v1/jwks` });
    kube.state.gets = { "/openid/v1/jwks": jwks };
    let reads = 0;
    const caller = {
      get signal() {
        reads++;
        return undefined;
      },
    };
    expect(await connection.jwks.keySet(false, caller)).toEqual(jwks);
    expect(reads).toBe(1);
    expect(await connection.jwks.keySet(false, caller)).toEqual(jwks);
    expect(await connection.jwks.keySet(false, caller)).toEqual(jwks);
    expect(reads).toBe(1);
  });

  it("fetches a jwks_url off the API server directly", async () => {
    const { kube, fetched, connection } = connect({ jwksUrl: "https://oidc.example/keys" });
    kube.state.gets = { "https://oidc.example/keys": jwks };
    expect(await connection.jwks.keySet(false, {})).toEqual(jwks);
    expect(fetched).toEqual(["https://oidc.example/keys"]);
    expect(kube.state.bearers).toHaveLength(0);
  });

  it("answers 502 for a discovery document without jwks_uri, or a key set that is not one", async () => {
    const { kube, connection } = connect({});
    kube.state.gets = { "/.well-known/openid-configuration": {} };
    await expect(connection.jwks.keySet(false, {})).rejects.toMatchObject({
      status: 502,
      message: "kubernetes OIDC discovery failed: the discovery document has no jwks_uri",
    });
    kube.state.gets = { "/.well-known/openid-configuration": { jwks_uri: `${HOST}/keys` }, "/keys": { keys: "no" } };
    await expect(connection.jwks.keySet(false, {})).rejects.toMatchObject({
      status: 502,
      message: `kubernetes JWKS fetch failed: ${HOST}/keys is not a JSON Web Key Set`,
    });
  });
});

describe("kube connector: through login", () => {
  let keys: ClusterKeys;
  beforeAll(async () => {
    keys = await clusterKeys();
  });

  it("turns a reviewer without system:auth-delegator into a 502 that says so, logged at error level", async () => {
    const kube = fakeKube();
    kube.state.fail = new KubeApiError(403, "Forbidden", "forbidden", "POST", "/apis/authentication.k8s.io/v1/tokenreviews");
    const logger = recordingLogger();
    const h = await createK8sHarness(keys, {
      connector: createKubeConnector({ local: localFiles(), logger, createClient: kube.createClient }),
    });
    await h.write("config", { kubernetes_host: HOST, token_reviewer_jwt: REVIEWER_JWT });
    await h.write("role/demo", { bound_service_account_names: "myapp", bound_service_account_namespaces: "default" });
    const jwt = await legacyToken(keys);
    await expect(h.login({ role: "demo", jwt })).rejects.toMatchObject({ status: 502, message: FORBIDDEN_MESSAGE });
    expect(logger.records).toContainEqual(expect.objectContaining({ level: "error", msg: FORBIDDEN_MESSAGE }));
    expect(logger.text() + h.logger.text()).not.toContain(jwt.split(".")[1]);
  });
});
