import { createPrivateKey, createPublicKey } from "node:crypto";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { generateAccessKeyPair } from "./access-keys.js";
import {
  HOST,
  type ClusterKeys,
  type FakeCluster,
  type K8sHarness,
  clusterKeys,
  createK8sHarness,
  legacyToken,
  projectedToken,
} from "./test-harness.js";
import type { AccessIdRecord } from "./types.js";

const denied = (reason: string) => ({ status: 403, message: `permission denied: ${reason}` });
const bad = (message: string) => ({ status: 400, message });

let keys: ClusterKeys;
let otherKeys: ClusterKeys;
let h: K8sHarness;
let cluster: FakeCluster;

beforeAll(async () => {
  keys = await clusterKeys("RS256");
  otherKeys = await clusterKeys("ES256", "other");
});

beforeEach(async () => {
  h = await createK8sHarness(keys);
  cluster = h.clusters.get(HOST)!;
});

/** `auth-method create k8s -n my-k8s-auth-method --bound-pod-names mypod1 --bound-pod-names mypod2 --bound-namespaces my-namespace-a`. */
async function createAuthMethod(extra: Record<string, unknown> = {}) {
  const resp = await h.call("update", "access-id", {
    name: "my-k8s-auth-method",
    bound_pod_names: ["mypod1", "mypod2"],
    bound_service_account_namespaces: ["my-namespace-a"],
    token_policies: "app",
    ...extra,
  });
  return resp?.data as { access_id: string; prv_key: string };
}

/** `gateway-create-k8s-auth-config --name k8s-conf --access-id ID --signing-key KEY ...`. */
const createGatewayConfig = (accessId: string, signingKey: string, extra: Record<string, unknown> = {}) =>
  h.write("config/k8s-conf", { kubernetes_host: HOST, access_id: accessId, signing_key: signingKey, ...extra });

const podToken = (pod: string, namespace = "my-namespace-a") =>
  projectedToken(keys, { namespace, name: "default", pod: { name: pod, uid: `${pod}-uid` } });

describe("access-id: creating an auth method", () => {
  it("returns the access id and the base64 PEM private key, the shape of reference 000", async () => {
    const { access_id, prv_key } = await createAuthMethod();
    expect(access_id).toMatch(/^p-[a-z0-9]{14}$/);
    const pem = Buffer.from(prv_key, "base64").toString("utf8");
    expect(pem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(createPrivateKey(pem).asymmetricKeyType).toBe("ec");
  });

  it("keeps only the public half, and creates the role bound to the access id", async () => {
    const { access_id, prv_key } = await createAuthMethod();
    const read = await h.call("read", `access-id/${access_id}`);
    expect(read?.data).toMatchObject({ access_id, role: "my-k8s-auth-method", key_type: "ec" });
    const derived = createPublicKey(Buffer.from(prv_key, "base64").toString()).export({ type: "spki", format: "pem" });
    expect(read?.data?.public_key).toBe(derived);
    expect((await h.call("read", "role/my-k8s-auth-method"))?.data).toMatchObject({
      access_id,
      // Without bound service account names, any service account matches.
      bound_service_account_names: ["*"],
      bound_pod_names: ["mypod1", "mypod2"],
      bound_service_account_namespaces: ["my-namespace-a"],
      token_policies: ["app"],
    });
    for (const key of await h.storage.scan("")) {
      expect(JSON.stringify(await h.storage.getJSON(key))).not.toContain("PRIVATE KEY");
    }
  });

  it("makes RSA keys on request and refuses other key types", async () => {
    const { prv_key } = await createAuthMethod({ key_type: "rsa" });
    expect(createPrivateKey(Buffer.from(prv_key, "base64").toString()).asymmetricKeyType).toBe("rsa");
    await expect(h.call("update", "access-id", { name: "x", bound_service_account_namespaces: "a", key_type: "dsa" })).rejects.toMatchObject(
      bad('field "key_type" must be "ec" or "rsa"'),
    );
  });

  it("refuses an existing role name and applies the role checks", async () => {
    await createAuthMethod();
    await expect(createAuthMethod()).rejects.toMatchObject(bad('role "my-k8s-auth-method" already exists'));
    await expect(h.call("update", "access-id", { name: "nons" })).rejects.toMatchObject({ status: 400 });
    await expect(h.call("update", "access-id", {})).rejects.toMatchObject(bad('missing required field "name"'));
  });

  it("refuses a root policy, creating neither role nor access id", async () => {
    const refused = (field: string) =>
      bad(`field "${field}" must not contain "root": auth methods cannot create root tokens`);
    await expect(createAuthMethod({ token_policies: ["app", " Root "] })).rejects.toMatchObject(refused("token_policies"));
    await expect(createAuthMethod({ token_policies: undefined, policies: "app,root" })).rejects.toMatchObject(
      refused("policies"),
    );
    await expect(h.call("read", "role/my-k8s-auth-method")).rejects.toMatchObject({ status: 404 });
    await expect(h.call("list", "access-id")).rejects.toMatchObject({ status: 404 });
  });

  it("lists access ids; 404 when there are none", async () => {
    await expect(h.call("list", "access-id")).rejects.toMatchObject({ status: 404 });
    const { access_id } = await createAuthMethod();
    expect(await h.call("list", "access-id/")).toEqual({ data: { keys: [access_id] } });
  });
});

describe("access-id: gateway configs", () => {
  it("accepts the matching signing key, stores it, and never returns it", async () => {
    const { access_id, prv_key } = await createAuthMethod();
    await createGatewayConfig(access_id, prv_key);
    const read = await h.call("read", "config/k8s-conf");
    expect(read?.data).toMatchObject({ access_id, signing_key_set: true, token_exp: 300 });
    expect(JSON.stringify(read)).not.toContain("PRIVATE KEY");
    expect(JSON.stringify(read)).not.toContain(prv_key.slice(0, 40));
  });

  it("refuses a signing key that does not match the access id", async () => {
    const { access_id } = await createAuthMethod();
    const stranger = await generateAccessKeyPair("ec");
    await expect(createGatewayConfig(access_id, stranger.privateKeyPem)).rejects.toMatchObject(
      bad(`field "signing_key" does not match the public key of access id "${access_id}"`),
    );
  });

  it("refuses an unknown access id, a missing key, a key without an access id, a bad token_exp", async () => {
    const { access_id, prv_key } = await createAuthMethod();
    await expect(createGatewayConfig("p-doesnotexist", prv_key)).rejects.toMatchObject(
      bad('access id "p-doesnotexist" does not exist'),
    );
    await expect(createGatewayConfig(access_id, "")).rejects.toMatchObject(bad('field "signing_key" is required with "access_id"'));
    await expect(h.write("config/x", { kubernetes_host: HOST, signing_key: prv_key })).rejects.toMatchObject(
      bad('field "signing_key" needs "access_id"'),
    );
    await expect(createGatewayConfig(access_id, prv_key, { token_exp: "2h" })).rejects.toMatchObject(
      bad('field "token_exp" must be between 1 and 3600 seconds'),
    );
    await expect(createGatewayConfig(access_id, "bm90IGEga2V5")).rejects.toMatchObject(
      bad('field "signing_key" must be PEM encoded (or base64 of PEM)'),
    );
  });
});

describe("access-id: signed login", () => {
  let accessId: string;
  beforeEach(async () => {
    const created = await createAuthMethod();
    accessId = created.access_id;
    await createGatewayConfig(accessId, created.prv_key, { token_reviewer_jwt: "a.b.c" });
  });

  it("logs a bound pod in through the access id and its gateway config", async () => {
    const resp = await h.login({ access_id: accessId, config: "k8s-conf", jwt: await podToken("mypod1") });
    expect(resp?.auth).toMatchObject({
      policies: ["app"],
      metadata: {
        role: "my-k8s-auth-method",
        service_account_name: "default",
        service_account_namespace: "my-namespace-a",
        pod_name: "mypod1",
        pod_uid: "mypod1-uid",
        config_name: "k8s-conf",
      },
      renewable: true,
    });
    expect(cluster.reviews).toHaveLength(1);
  });

  it("accepts the role name instead of the access id", async () => {
    await expect(
      h.login({ role: "my-k8s-auth-method", config: "k8s-conf", jwt: await podToken("mypod2") }),
    ).resolves.toBeDefined();
    await expect(
      h.login({ role: "demo", access_id: accessId, config: "k8s-conf", jwt: await podToken("mypod2") }),
    ).rejects.toMatchObject(bad(`role "demo" does not belong to access id "${accessId}"`));
  });

  it("refuses an unbound pod or namespace, and what the cluster does not authenticate", async () => {
    const login = (jwt: string) => h.login({ access_id: accessId, config: "k8s-conf", jwt });
    await expect(login(await podToken("mypod3"))).rejects.toMatchObject(denied("pod not authorized"));
    await expect(login(await podToken("mypod1", "other-ns"))).rejects.toMatchObject(denied("namespace not authorized"));
    const forged = await projectedToken(otherKeys, { namespace: "my-namespace-a", pod: { name: "mypod1", uid: "u" } });
    await expect(login(forged)).rejects.toMatchObject(denied("token not authenticated"));
  });

  it("issues nothing unless the assertion verifies with the stored public key", async () => {
    const record = (await h.storage.getJSON<AccessIdRecord>(`access-id/${accessId}`))!;
    const replaced = await generateAccessKeyPair("ec");
    await h.storage.putJSON(`access-id/${accessId}`, { ...record, publicKey: replaced.publicKeyPem });
    await expect(h.login({ access_id: accessId, config: "k8s-conf", jwt: await podToken("mypod1") })).rejects.toMatchObject(
      denied("login assertion not valid"),
    );
  });

  it("keeps access-id roles and plain configs apart", async () => {
    await h.write("config", { kubernetes_host: HOST, token_reviewer_jwt: "a.b.c" });
    await h.write("role/plain", { bound_service_account_names: "*", bound_service_account_namespaces: "*" });
    const jwt = await podToken("mypod1");
    await expect(h.login({ access_id: accessId, jwt })).rejects.toMatchObject(denied("config not authorized"));
    await expect(h.login({ role: "plain", config: "k8s-conf", jwt })).rejects.toMatchObject(denied("config not authorized"));
    await expect(h.login({ role: "plain", jwt })).resolves.toBeDefined();
  });

  it("refuses an unknown access id with 400", async () => {
    await expect(h.login({ access_id: "p-unknown1", config: "k8s-conf", jwt: await podToken("mypod1") })).rejects.toMatchObject(
      bad('invalid access id "p-unknown1"'),
    );
  });

  it("carries namespace labels in the assertion for a namespace selector", async () => {
    await h.write("role/my-k8s-auth-method", {
      bound_service_account_namespaces: [],
      bound_service_account_namespace_selector: { matchLabels: { tier: "gold" } },
    });
    cluster.namespaceLabels = { gold: { tier: "gold" }, tin: { tier: "tin" } };
    const login = async (ns: string) => h.login({ access_id: accessId, config: "k8s-conf", jwt: await podToken("mypod1", ns) });
    await expect(login("gold")).resolves.toBeDefined();
    await expect(login("tin")).rejects.toMatchObject(denied("namespace not authorized"));
    expect(cluster.namespaceLookups).toBe(2);
  });

  it("refuses to delete an access id or its role while a gateway config signs for it", async () => {
    const inUse = bad(`access id "${accessId}" is used by config "k8s-conf"; delete that first`);
    await expect(h.call("delete", `access-id/${accessId}`)).rejects.toMatchObject(inUse);
    await expect(h.call("delete", "role/my-k8s-auth-method")).rejects.toMatchObject(inUse);
    await h.call("delete", "config/k8s-conf");
    await h.call("delete", `access-id/${accessId}`);
    await expect(h.call("read", "role/my-k8s-auth-method")).rejects.toMatchObject({ status: 404 });
    await expect(h.call("read", `access-id/${accessId}`)).rejects.toMatchObject({ status: 404 });
  });

  it("deletes the access id with its role", async () => {
    await h.call("delete", "config/k8s-conf");
    await h.call("delete", "role/my-k8s-auth-method");
    await expect(h.call("read", `access-id/${accessId}`)).rejects.toMatchObject({ status: 404 });
  });

  it("works with legacy tokens too, when the role binds no pods", async () => {
    await h.write("role/my-k8s-auth-method", { bound_pod_names: [] });
    const jwt = await legacyToken(keys, { namespace: "my-namespace-a" });
    const resp = await h.login({ access_id: accessId, config: "k8s-conf", jwt });
    expect(resp?.auth?.metadata.service_account_secret_name).toBe("myapp-token-pd21c");
  });
});
