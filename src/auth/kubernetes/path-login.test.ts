import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { upstreamError } from "../../core/errors.js";
import {
  API_AUDIENCE,
  HOST,
  type ClusterKeys,
  type FakeCluster,
  type K8sHarness,
  clusterKeys,
  createK8sHarness,
  fakeCluster,
  legacyToken,
  projectedToken,
} from "./test-harness.js";

const REVIEWER_JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyZXZpZXdlciJ9.c2lnbmF0dXJl";
const UID = "aa9aa8ff-98d0-11e7-9bb7-0800276d99bf";
const denied = (reason: string) => ({ status: 403, message: `permission denied: ${reason}` });
const bad = (message: string) => ({ status: 400, message });

let keys: ClusterKeys;
let otherKeys: ClusterKeys;
let h: K8sHarness;
let cluster: FakeCluster;

beforeAll(async () => {
  keys = await clusterKeys("RS256");
  otherKeys = await clusterKeys("ES256", "other-key");
});

beforeEach(async () => {
  h = await createK8sHarness(keys);
  cluster = h.clusters.get(HOST)!;
  // The configuration steps of the reference: config, then role "demo".
  await h.write("config", { token_reviewer_jwt: REVIEWER_JWT, kubernetes_host: HOST });
  await h.write("role/demo", {
    bound_service_account_names: "myapp",
    bound_service_account_namespaces: "default",
    policies: "default",
    ttl: "1h",
  });
});

const accountMetadata = (secretName: string) => ({
  service_account_name: "myapp",
  service_account_namespace: "default",
  service_account_secret_name: secretName,
  service_account_uid: UID,
});

describe("login: the reference flows", () => {
  it("logs in with a legacy secret-based token and returns Vault's auth block", async () => {
    const resp = await h.login({ role: "demo", jwt: await legacyToken(keys) });
    expect(resp).toEqual({
      auth: {
        policies: ["default"],
        metadata: { role: "demo", ...accountMetadata("myapp-token-pd21c") },
        alias: { name: UID, metadata: accountMetadata("myapp-token-pd21c") },
        displayName: "kubernetes-default-myapp",
        ttl: 3600,
        renewable: true,
      },
    });
    expect(cluster.reviews).toEqual([{ audiences: [] }]);
  });

  it("logs in with a projected token; its secret name is empty", async () => {
    const resp = await h.login({ role: "demo", jwt: await projectedToken(keys) });
    expect(resp?.auth?.metadata).toEqual({ role: "demo", ...accountMetadata("") });
  });

  it("adds pod_name and pod_uid for a pod-bound token", async () => {
    const jwt = await projectedToken(keys, { pod: { name: "mypod1", uid: "pod-uid-1" } });
    const resp = await h.login({ role: "demo", jwt });
    expect(resp?.auth?.metadata).toEqual({
      role: "demo",
      ...accountMetadata(""),
      pod_name: "mypod1",
      pod_uid: "pod-uid-1",
    });
  });

  it("accepts role and jwt with surrounding whitespace, as a CLI may send them", async () => {
    const resp = await h.login({ role: " demo ", jwt: `${await legacyToken(keys)}\n` });
    expect(resp?.auth?.metadata.role).toBe("demo");
  });
});

describe("login: input errors are 400", () => {
  it("names a missing role before a missing jwt, as Vault does", async () => {
    await expect(h.login({})).rejects.toMatchObject(bad("missing role"));
    await expect(h.login({ role: "demo" })).rejects.toMatchObject(bad("missing jwt"));
    await expect(h.login({ role: "demo", jwt: "  " })).rejects.toMatchObject(bad("missing jwt"));
  });

  it("answers a role that does not exist with Vault's message", async () => {
    await expect(h.login({ role: "nope", jwt: await legacyToken(keys) })).rejects.toMatchObject(bad('invalid role name "nope"'));
  });

  it("never echoes a token given as the role name", async () => {
    const jwt = await legacyToken(keys);
    await expect(h.login({ role: jwt, jwt })).rejects.toMatchObject(bad('invalid role name "[redacted]"'));
  });

  it("refuses a jwt that is not a service-account JWT", async () => {
    await expect(h.login({ role: "demo", jwt: "not-a-jwt" })).rejects.toMatchObject(
      bad("invalid jwt: not a signed JWT (three base64url parts)"),
    );
  });

  it("refuses a login field of the wrong type", async () => {
    await expect(h.login({ role: "demo", jwt: { a: 1 } })).rejects.toMatchObject(bad('field "jwt" must be a string'));
  });

  it("names an unknown config, and a missing default config", async () => {
    const jwt = await legacyToken(keys);
    await expect(h.login({ role: "demo", jwt, config: "west" })).rejects.toMatchObject(bad('invalid config name "west"'));
    await h.call("delete", "config");
    await expect(h.login({ role: "demo", jwt })).rejects.toMatchObject(
      bad('no default config: write auth/kubernetes/config or name one in "config"'),
    );
  });
});

describe("login: refusals are 403 with a short reason", () => {
  it("refuses an expired token without asking the cluster", async () => {
    const jwt = await projectedToken(keys, { iat: -7200, exp: -3600 });
    await expect(h.login({ role: "demo", jwt })).rejects.toMatchObject(denied("token expired"));
    expect(cluster.reviews).toHaveLength(0);
  });

  it("tolerates a minute of clock skew on exp, nbf and iat", async () => {
    await expect(h.login({ role: "demo", jwt: await projectedToken(keys, { iat: -600, exp: -30 }) })).resolves.toBeDefined();
    await expect(h.login({ role: "demo", jwt: await projectedToken(keys, { iat: 30, nbf: 30 }) })).resolves.toBeDefined();
  });

  it("refuses a token that is not yet valid", async () => {
    await expect(h.login({ role: "demo", jwt: await projectedToken(keys, { nbf: 600 }) })).rejects.toMatchObject(
      denied("token not yet valid"),
    );
    await expect(h.login({ role: "demo", jwt: await projectedToken(keys, { iat: 600, nbf: null }) })).rejects.toMatchObject(
      denied("token not yet valid"),
    );
  });

  it("refuses a service account or namespace the role does not bind", async () => {
    await expect(h.login({ role: "demo", jwt: await legacyToken(keys, { name: "other" }) })).rejects.toMatchObject(
      denied("service account name not authorized"),
    );
    await expect(h.login({ role: "demo", jwt: await legacyToken(keys, { namespace: "prod" }) })).rejects.toMatchObject(
      denied("namespace not authorized"),
    );
    expect(cluster.reviews).toHaveLength(0);
  });

  it("matches names and namespaces as globs, and * as anything", async () => {
    await h.write("role/globs", { bound_service_account_names: "app-*", bound_service_account_namespaces: "team-*-prod" });
    await expect(h.login({ role: "globs", jwt: await legacyToken(keys, { name: "app-web", namespace: "team-a-prod" }) })).resolves.toBeDefined();
    await expect(h.login({ role: "globs", jwt: await legacyToken(keys, { name: "web", namespace: "team-a-prod" }) })).rejects.toMatchObject(
      denied("service account name not authorized"),
    );
    await h.write("role/any", { bound_service_account_names: "*", bound_service_account_namespaces: "*" });
    await expect(h.login({ role: "any", jwt: await legacyToken(keys, { name: "x", namespace: "y" }) })).resolves.toBeDefined();
  });

  it("refuses what the TokenReview does not authenticate: a forged token, a deleted service account", async () => {
    await expect(h.login({ role: "demo", jwt: await legacyToken(otherKeys) })).rejects.toMatchObject(
      denied("token not authenticated"),
    );
    cluster.deletedUids.add(UID);
    await expect(h.login({ role: "demo", jwt: await projectedToken(keys) })).rejects.toMatchObject(
      denied("token not authenticated"),
    );
  });

  it("requires the review to name the same service account and uid", async () => {
    const jwt = await legacyToken(keys);
    const base = { authenticated: true, uid: UID, audiences: [API_AUDIENCE] };
    cluster.reviewOverride = async () => ({ ...base, username: "system:serviceaccount:default:someone-else" });
    await expect(h.login({ role: "demo", jwt })).rejects.toMatchObject(denied("token not authenticated"));
    cluster.reviewOverride = async () => ({ ...base, username: "system:serviceaccount:default:myapp", uid: "recreated" });
    await expect(h.login({ role: "demo", jwt })).rejects.toMatchObject(denied("token not authenticated"));
  });

  it("refuses logins from outside token_bound_cidrs", async () => {
    await h.write("role/demo", { token_bound_cidrs: "10.1.0.0/16" });
    const jwt = await legacyToken(keys);
    await expect(h.login({ role: "demo", jwt }, "10.2.0.1")).rejects.toMatchObject(denied("source address not authorized"));
    await expect(h.login({ role: "demo", jwt }, "::ffff:10.1.2.3")).resolves.toBeDefined();
  });
});

describe("login: pod binding", () => {
  beforeEach(async () => {
    await h.write("role/pods", {
      bound_service_account_names: "*",
      bound_service_account_namespaces: "my-namespace-a",
      bound_pod_names: ["mypod1", "mypod2"],
    });
  });
  const podToken = (name: string) => projectedToken(keys, { namespace: "my-namespace-a", pod: { name, uid: `${name}-uid` } });

  it("admits the bound pods", async () => {
    for (const pod of ["mypod1", "mypod2"]) {
      const resp = await h.login({ role: "pods", jwt: await podToken(pod) });
      expect(resp?.auth?.metadata.pod_name).toBe(pod);
    }
  });

  it("refuses another pod, and a token that names no pod", async () => {
    await expect(h.login({ role: "pods", jwt: await podToken("mypod3") })).rejects.toMatchObject(denied("pod not authorized"));
    const unbound = await projectedToken(keys, { namespace: "my-namespace-a" });
    await expect(h.login({ role: "pods", jwt: unbound })).rejects.toMatchObject(denied("pod not authorized"));
    await expect(h.login({ role: "pods", jwt: await legacyToken(keys, { namespace: "my-namespace-a" }) })).rejects.toMatchObject(
      denied("pod not authorized"),
    );
  });

  it("requires the TokenReview to confirm the pod", async () => {
    const jwt = await podToken("mypod1");
    const ok = { authenticated: true, username: "system:serviceaccount:my-namespace-a:myapp", uid: UID };
    cluster.reviewOverride = async () => ok;
    await expect(h.login({ role: "pods", jwt })).rejects.toMatchObject(denied("pod not authorized"));
    cluster.reviewOverride = async () => ({ ...ok, extra: { "authentication.kubernetes.io/pod-name": ["mypod2"] } });
    await expect(h.login({ role: "pods", jwt })).rejects.toMatchObject(denied("pod not authorized"));
    cluster.reviewOverride = async () => ({
      ...ok,
      extra: { "authentication.kubernetes.io/pod-name": ["mypod1"], "authentication.kubernetes.io/pod-uid": ["recreated"] },
    });
    await expect(h.login({ role: "pods", jwt })).rejects.toMatchObject(denied("pod not authorized"));
  });
});

describe("login: audiences", () => {
  const roleWith = (audience: string | string[] | undefined) =>
    h.write("role/aud", {
      bound_service_account_names: "myapp",
      bound_service_account_namespaces: "default",
      ...(audience !== undefined && { audience }),
    });
  const cases: [string, string | string[] | undefined, "legacy" | string[], boolean][] = [
    ["no role audience, legacy token", undefined, "legacy", true],
    ["no role audience, projected token", undefined, ["anything"], true],
    ["one audience, legacy token (has none)", "vault", "legacy", false],
    ["one audience, matching token", "vault", ["vault"], true],
    ["one audience, token for another", "vault", ["other"], false],
    ["one audience, token with several incl. it", "vault", ["x", "vault"], true],
    ["a list, token with one of them", ["a", "b"], ["b", "x"], true],
    ["a list, token with none of them", ["a", "b"], ["c"], false],
  ];
  it.each(cases)("%s", async (_name, roleAud, tokenAud, allowed) => {
    await roleWith(roleAud);
    const jwt = tokenAud === "legacy" ? await legacyToken(keys) : await projectedToken(keys, { aud: tokenAud });
    const attempt = h.login({ role: "aud", jwt });
    if (allowed) await expect(attempt).resolves.toBeDefined();
    else await expect(attempt).rejects.toMatchObject(denied("audience not authorized"));
  });

  it("asks the TokenReview for the role's audiences and requires one back", async () => {
    await roleWith(["a", "b"]);
    const jwt = await projectedToken(keys, { aud: ["b"] });
    await h.login({ role: "aud", jwt });
    expect(cluster.reviews.at(-1)).toEqual({ audiences: ["a", "b"] });
    cluster.reviewOverride = async () => ({
      authenticated: true,
      username: "system:serviceaccount:default:myapp",
      uid: UID,
      audiences: ["c"],
    });
    await expect(h.login({ role: "aud", jwt })).rejects.toMatchObject(denied("audience not authorized"));
  });
});

describe("login: namespace selector", () => {
  beforeEach(async () => {
    await h.write("role/sel", {
      bound_service_account_names: "myapp",
      bound_service_account_namespace_selector: '{"matchLabels": {"team": "a"}}',
    });
    cluster.namespaceLabels = { "team-a-1": { team: "a" }, "team-b-1": { team: "b" } };
  });

  it("admits a namespace whose labels match", async () => {
    await expect(h.login({ role: "sel", jwt: await projectedToken(keys, { namespace: "team-a-1" }) })).resolves.toBeDefined();
    expect(cluster.namespaceLookups).toBe(1);
  });

  it("refuses a namespace whose labels do not match, or that does not exist", async () => {
    await expect(h.login({ role: "sel", jwt: await projectedToken(keys, { namespace: "team-b-1" }) })).rejects.toMatchObject(
      denied("namespace not authorized"),
    );
    await expect(h.login({ role: "sel", jwt: await projectedToken(keys, { namespace: "gone" }) })).rejects.toMatchObject(
      denied("namespace not authorized"),
    );
  });

  it("looks up nothing for a listed namespace or an unverified token", async () => {
    await h.write("role/sel", { bound_service_account_namespaces: "listed" });
    await h.login({ role: "sel", jwt: await projectedToken(keys, { namespace: "listed" }) });
    await expect(h.login({ role: "sel", jwt: await projectedToken(otherKeys, { namespace: "team-a-1" }) })).rejects.toMatchObject(
      denied("token not authenticated"),
    );
    expect(cluster.namespaceLookups).toBe(0);
  });

  it("reads YAML selectors with matchExpressions", async () => {
    await h.write("role/sel", {
      bound_service_account_namespace_selector: "matchExpressions:\n  - key: team\n    operator: In\n    values: [a, c]\n",
    });
    await expect(h.login({ role: "sel", jwt: await projectedToken(keys, { namespace: "team-a-1" }) })).resolves.toBeDefined();
  });

  it("passes a failing lookup through (an operator problem)", async () => {
    cluster.namespaceOverride = async () => {
      throw upstreamError(502, "kubernetes namespace lookup failed: the reviewer identity is not allowed to get namespaces");
    };
    await expect(h.login({ role: "sel", jwt: await projectedToken(keys, { namespace: "team-a-1" }) })).rejects.toMatchObject({
      status: 502,
    });
  });
});

describe("login: issuer validation", () => {
  it("is off by default, as in Vault since Kubernetes 1.21", async () => {
    await expect(h.login({ role: "demo", jwt: await projectedToken(keys, { iss: "https://anything" }) })).resolves.toBeDefined();
  });

  it("when on, expects kubernetes/serviceaccount unless an issuer is set", async () => {
    await h.write("config", { kubernetes_host: HOST, token_reviewer_jwt: REVIEWER_JWT, disable_iss_validation: false });
    await expect(h.login({ role: "demo", jwt: await legacyToken(keys) })).resolves.toBeDefined();
    await expect(h.login({ role: "demo", jwt: await projectedToken(keys) })).rejects.toMatchObject(denied("issuer not authorized"));
    await h.write("config", {
      kubernetes_host: HOST,
      token_reviewer_jwt: REVIEWER_JWT,
      disable_iss_validation: false,
      issuer: "https://kubernetes.default.svc.cluster.local",
    });
    await expect(h.login({ role: "demo", jwt: await projectedToken(keys) })).resolves.toBeDefined();
  });
});

describe("login: local signature checks", () => {
  it("validation=jwks verifies against the cluster's JWKS without a TokenReview", async () => {
    await h.write("config", { kubernetes_host: HOST, validation: "jwks" });
    await expect(h.login({ role: "demo", jwt: await projectedToken(keys) })).resolves.toBeDefined();
    expect(cluster.reviews).toHaveLength(0);
  });

  it("validation=jwks refuses a token from another signer", async () => {
    await h.write("config", { kubernetes_host: HOST, validation: "jwks" });
    await expect(h.login({ role: "demo", jwt: await projectedToken(otherKeys) })).rejects.toMatchObject(
      denied("token not authenticated"),
    );
  });

  it("validation=jwks refetches the key set once for an unknown key (rotation)", async () => {
    await h.write("config", { kubernetes_host: HOST, validation: "jwks" });
    const rotated = { ...otherKeys, kid: "rotated" };
    cluster.jwks = { keys: [...keys.jwks.keys, ...otherKeys.jwks.keys.map((k) => ({ ...k, kid: "rotated" }))] };
    await expect(h.login({ role: "demo", jwt: await projectedToken(rotated) })).resolves.toBeDefined();
  });

  it("validation=jwks with pem_keys needs no API server", async () => {
    await h.write("config", { validation: "jwks", pem_keys: [keys.publicKeyPem] });
    await expect(h.login({ role: "demo", jwt: await projectedToken(keys) })).resolves.toBeDefined();
    await expect(h.login({ role: "demo", jwt: await projectedToken(otherKeys) })).rejects.toMatchObject(
      denied("token not authenticated"),
    );
    expect(cluster.jwksFetches + cluster.reviews.length).toBe(0);
  });

  it("with pem_keys, tokenreview mode checks the signature before asking the cluster (as Vault)", async () => {
    await h.write("config", { kubernetes_host: HOST, token_reviewer_jwt: REVIEWER_JWT, pem_keys: [keys.publicKeyPem] });
    await expect(h.login({ role: "demo", jwt: await legacyToken(otherKeys) })).rejects.toMatchObject(
      denied("token not authenticated"),
    );
    expect(cluster.reviews).toHaveLength(0);
    await expect(h.login({ role: "demo", jwt: await legacyToken(keys) })).resolves.toBeDefined();
    expect(cluster.reviews).toHaveLength(1);
  });
});

describe("login: named configs", () => {
  const EAST = "https://east.k8s.test:6443";
  let eastKeys: ClusterKeys;
  beforeEach(async () => {
    eastKeys = otherKeys;
    h.clusters.set(EAST, fakeCluster(eastKeys, h.now));
    await h.write("config/east", { kubernetes_host: EAST, token_reviewer_jwt: REVIEWER_JWT });
  });

  it("verifies with the config named at login and records it as config_name", async () => {
    const resp = await h.login({ role: "demo", jwt: await legacyToken(eastKeys), config: "east" });
    expect(resp?.auth?.metadata.config_name).toBe("east");
    expect(h.clusters.get(EAST)!.reviews).toHaveLength(1);
    expect(cluster.reviews).toHaveLength(0);
  });

  it("does not accept one cluster's token through another's config", async () => {
    await expect(h.login({ role: "demo", jwt: await legacyToken(eastKeys) })).rejects.toMatchObject(
      denied("token not authenticated"),
    );
  });

  it("enforces bound_config_names", async () => {
    await h.write("role/demo", { bound_config_names: "east" });
    await expect(h.login({ role: "demo", jwt: await legacyToken(keys) })).rejects.toMatchObject(denied("config not authorized"));
    await expect(h.login({ role: "demo", jwt: await legacyToken(eastKeys), config: "east" })).resolves.toBeDefined();
    await h.write("role/demo", { bound_config_names: "default" });
    await expect(h.login({ role: "demo", jwt: await legacyToken(keys) })).resolves.toBeDefined();
  });
});

describe("login: review cache", () => {
  const withCache = (seconds: number) =>
    h.write("config", { kubernetes_host: HOST, token_reviewer_jwt: REVIEWER_JWT, review_cache_ttl: seconds });

  it("is off by default: every login is reviewed", async () => {
    const jwt = await projectedToken(keys);
    await h.login({ role: "demo", jwt });
    await h.login({ role: "demo", jwt });
    expect(cluster.reviews).toHaveLength(2);
  });

  it("reuses a successful review of the same JWT until the TTL passes", async () => {
    await withCache(5);
    const jwt = await projectedToken(keys);
    await h.login({ role: "demo", jwt });
    h.advance(4_000);
    await h.login({ role: "demo", jwt });
    expect(cluster.reviews).toHaveLength(1);
    h.advance(1_000);
    await h.login({ role: "demo", jwt });
    expect(cluster.reviews).toHaveLength(2);
  });

  it("misses for another JWT or other audiences, and never caches a refusal", async () => {
    await withCache(10);
    await h.login({ role: "demo", jwt: await projectedToken(keys) });
    await h.login({ role: "demo", jwt: await projectedToken(keys, { iat: 1 }) });
    await h.write("role/demo", { audience: API_AUDIENCE });
    await h.login({ role: "demo", jwt: await projectedToken(keys) });
    expect(cluster.reviews).toHaveLength(3);
    const forged = await projectedToken(otherKeys);
    await expect(h.login({ role: "demo", jwt: forged })).rejects.toMatchObject({ status: 403 });
    await expect(h.login({ role: "demo", jwt: forged })).rejects.toMatchObject({ status: 403 });
    expect(cluster.reviews).toHaveLength(5);
  });

  it("does not reuse a review past the token's expiry", async () => {
    await withCache(10);
    const jwt = await projectedToken(keys, { iat: -3600, exp: 3 });
    await h.login({ role: "demo", jwt });
    h.advance(3_000);
    await h.login({ role: "demo", jwt });
    expect(cluster.reviews).toHaveLength(2);
  });

  it("still applies the role's checks on a cache hit", async () => {
    await withCache(10);
    const jwt = await projectedToken(keys);
    await h.login({ role: "demo", jwt });
    await h.write("role/demo", { bound_service_account_names: "someone-else" });
    await expect(h.login({ role: "demo", jwt })).rejects.toMatchObject(denied("service account name not authorized"));
  });

  it("starts afresh when the config is rewritten", async () => {
    await withCache(10);
    const jwt = await projectedToken(keys);
    await h.login({ role: "demo", jwt });
    await withCache(10);
    await h.login({ role: "demo", jwt });
    expect(cluster.reviews).toHaveLength(2);
    expect(h.connectionsBuilt).toBe(2);
  });
});

describe("login: upstream failures", () => {
  it.each([
    [502, "kubernetes TokenReview failed: the reviewer identity is not allowed to create tokenreviews (does it have system:auth-delegator?)"],
    [502, "kubernetes TokenReview failed: https://k8s.test:6443 is unreachable"],
    [503, "kubernetes TokenReview failed: the API server kept throttling (429 Too Many Requests) after retries"],
  ] as const)("passes the reviewer's %i through: %s", async (status, message) => {
    cluster.reviewOverride = async () => {
      throw upstreamError(status, message);
    };
    await expect(h.login({ role: "demo", jwt: await legacyToken(keys) })).rejects.toMatchObject({ status, message });
  });
});

describe("login: token parameters from the role", () => {
  it("carries every token_ field into the auth block", async () => {
    await h.write("role/full", {
      bound_service_account_names: "myapp",
      bound_service_account_namespaces: "default",
      token_policies: ["app", "db"],
      token_ttl: "10m",
      token_max_ttl: "1h",
      token_explicit_max_ttl: "2h",
      token_period: "30m",
      token_num_uses: 5,
      token_type: "service",
      token_bound_cidrs: "10.0.0.0/8",
      token_no_default_policy: true,
      alias_name_source: "serviceaccount_name",
    });
    const resp = await h.login({ role: "full", jwt: await legacyToken(keys) });
    expect(resp?.auth).toMatchObject({
      policies: ["app", "db"],
      ttl: 600,
      maxTtl: 3600,
      explicitMaxTtl: 3600,
      period: 1800,
      numUses: 5,
      tokenType: "service",
      boundCidrs: ["10.0.0.0/8"],
      noDefaultPolicy: true,
      renewable: true,
      alias: { name: "default/myapp" },
    });
  });

  it("issues batch tokens when the role asks", async () => {
    await h.write("role/demo", { token_type: "batch" });
    expect((await h.login({ role: "demo", jwt: await legacyToken(keys) }))?.auth?.tokenType).toBe("batch");
  });
});

describe("login: secrets stay secret", () => {
  it("puts no JWT into any message or log line, success or failure", async () => {
    const tokens = [
      await legacyToken(keys),
      await legacyToken(otherKeys),
      await projectedToken(keys, { exp: -3600, iat: -7200 }),
      await projectedToken(keys, { name: "other" }),
    ];
    const messages: string[] = [];
    for (const jwt of tokens) {
      try {
        messages.push(JSON.stringify(await h.login({ role: "demo", jwt })));
      } catch (err) {
        messages.push(err instanceof Error ? err.message : String(err));
      }
    }
    cluster.reviewOverride = async () => {
      throw upstreamError(502, "kubernetes TokenReview failed: https://k8s.test:6443 is unreachable");
    };
    await h.login({ role: "demo", jwt: tokens[0] }).catch((err: Error) => messages.push(err.message));
    const everything = messages.join("\n") + h.logger.text();
    for (const jwt of [...tokens, REVIEWER_JWT]) {
      for (const part of jwt.split(".")) expect(everything).not.toContain(part);
    }
  });
});

describe("login: roles and configs kept between logins", () => {
  it("applies a role rewritten through the mount to the very next login", async () => {
    const jwt = await legacyToken(keys);
    expect((await h.login({ role: "demo", jwt }))?.auth?.policies).toEqual(["default"]);
    await h.write("role/demo", { bound_service_account_namespaces: "other" });
    await expect(h.login({ role: "demo", jwt })).rejects.toMatchObject(denied("namespace not authorized"));
  });

  it("refuses a deleted role on the very next login", async () => {
    const jwt = await legacyToken(keys);
    await h.login({ role: "demo", jwt });
    await h.call("delete", "role/demo");
    await expect(h.login({ role: "demo", jwt })).rejects.toMatchObject(bad('invalid role name "demo"'));
  });

  it("applies a config rewritten through the mount to the very next login", async () => {
    const jwt = await projectedToken(keys);
    await h.login({ role: "demo", jwt });
    expect(cluster.reviews).toHaveLength(1);
    await h.write("config", { kubernetes_host: HOST, validation: "jwks" });
    await h.login({ role: "demo", jwt });
    expect(cluster.reviews).toHaveLength(1);
    expect(cluster.jwksFetches).toBe(1);
  });

  it("reads them once on a server of its own, and on every login when replicas share the storage", async () => {
    for (const sharedStorage of [false, true]) {
      h = await createK8sHarness(keys, { sharedStorage });
      await h.write("config", { token_reviewer_jwt: REVIEWER_JWT, kubernetes_host: HOST });
      await h.write("role/demo", { bound_service_account_names: "myapp", bound_service_account_namespaces: "default" });
      const jwt = await legacyToken(keys);
      await h.login({ role: "demo", jwt });
      // As another replica writes it: straight into the mount's storage, not through this server's handlers.
      const role = (await h.storage.getJSON<Record<string, unknown>>("role/demo"))!;
      await h.storage.putJSON("role/demo", { ...role, boundServiceAccountNamespaces: ["other"] });
      const next = h.login({ role: "demo", jwt });
      if (sharedStorage) await expect(next).rejects.toMatchObject(denied("namespace not authorized"));
      else expect((await next)?.auth?.metadata?.role).toBe("demo");
    }
  });
});
