/**
 * The access-id flow of the kubernetes auth method, end to end from the built
 * CLI against a built server process and the real API server: an operator
 * creates the auth method (`auth-method create k8s`) and the gateway config
 * that signs its logins (`gateway-create-k8s-auth-config`), and a pod logs in
 * with its pod-bound service-account token (`auth --access-type k8s`).
 * The Vault-style verbs (`write .../login`, `login -method=kubernetes`) run
 * against the same cluster.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  cleanup,
  createClusterRoleBinding,
  createPod,
  createServiceAccount,
  kubeTestEnv,
  serviceAccountSubject,
  tokenRequest,
  uniqueName,
  uniqueNamespace,
  type CreatedRef,
} from "../helpers/k8s.js";
import { freshHome, runCli, startServerProcess, type CliResult, type ServerProcess } from "../helpers/process.js";

const ROOT = "lks.k8s-auth-cli-root";
/** Nothing listens here: commands that take --gateway-url must not fall back to LATCHKEY_ADDR. */
const NOWHERE = "http://127.0.0.1:9";

describe("kubernetes auth from the CLI, access-id style, against a real cluster", () => {
  let server: ServerProcess;
  let dir: string;
  let ns: string;
  let pod: CreatedRef;
  let otherPod: CreatedRef;
  let reviewerJwt: string;
  let caFile: string;
  /** The root token, LATCHKEY_ADDR unusable. */
  let operator: Record<string, string>;
  /** Neither address nor token: a pod has only --gateway-url. */
  let podEnv: Record<string, string>;
  let accessId: string;
  let privateKey: string;

  const cli = (args: string[], env: Record<string, string>, input?: string): CliResult => {
    const result = runCli(args, env, input);
    for (const jwt of [reviewerJwt]) expect(result.stdout + result.stderr).not.toContain(jwt);
    return result;
  };
  const ok = (result: CliResult): string => {
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    return result.stdout;
  };
  /** A pod-bound token of `app` written where `auth --k8s-token-path` reads it. */
  const podTokenFile = async (name: string, boundPod?: CreatedRef): Promise<{ path: string; jwt: string }> => {
    const { token } = await tokenRequest(ns, "app", { pod: boundPod && { name: boundPod.name, uid: boundPod.uid } });
    const path = join(dir, name);
    writeFileSync(path, token, { mode: 0o600 });
    return { path, jwt: token };
  };
  const podLogin = (tokenPath: string, extra: string[] = []) =>
    runCli(
      [
        "auth", "--access-id", accessId, "--access-type", "k8s", "--gateway-url", server.address,
        "--k8s-auth-config-name", "k8s-conf", "--k8s-token-path", tokenPath, ...extra,
      ],
      podEnv,
    );
  const lookupSelf = (token: string) =>
    JSON.parse(ok(runCli(["token", "lookup", "-format=json"], { LATCHKEY_ADDR: server.address, LATCHKEY_TOKEN: token, HOME: freshHome() })))
      .data as { policies: string[]; meta: Record<string, string> };

  beforeAll(async () => {
    const kube = kubeTestEnv();
    if (!kube.caPem) throw new Error("this suite needs the API server's CA (KUBE_CA or the kubeconfig's certificate-authority)");
    dir = mkdtempSync(join(tmpdir(), "latchkey-k8s-cli-"));
    caFile = join(dir, "ca.crt");
    writeFileSync(caFile, kube.caPem);

    ns = await uniqueNamespace({ "latchkey.test/suite": "k8s-auth-cli" });
    await createServiceAccount(ns, "app");
    pod = await createPod(ns, "mypod1", "app");
    otherPod = await createPod(ns, "otherpod", "app");
    await createServiceAccount(ns, "reviewer");
    await createClusterRoleBinding(uniqueName("lk-cli-reviewer"), "system:auth-delegator", [serviceAccountSubject(ns, "reviewer")]);
    reviewerJwt = (await tokenRequest(ns, "reviewer", { expirationSeconds: 3600 })).token;

    // As inside a pod: the in-cluster address is in the environment (for --use-gw-service-account).
    const apiServer = new URL(kube.host);
    server = await startServerProcess(["--dev", "--dev-root-token", ROOT, "--listen", "127.0.0.1:0"], {
      KUBERNETES_SERVICE_HOST: apiServer.hostname.replace(/^\[|\]$/g, ""),
      KUBERNETES_SERVICE_PORT: apiServer.port || "443",
    });
    operator = { LATCHKEY_ADDR: NOWHERE, LATCHKEY_TOKEN: ROOT, HOME: freshHome() };
    podEnv = { LATCHKEY_ADDR: NOWHERE, LATCHKEY_TOKEN: "", HOME: freshHome() };
    const admin = { ...operator, LATCHKEY_ADDR: server.address };
    ok(runCli(["auth", "enable", "kubernetes"], admin));
    ok(runCli(["policy", "write", "read-app", "-"], admin, 'path "secret/data/app/*" { capabilities = ["read"] }\n'));
    ok(runCli(["kv", "put", "secret/app/db", "password=s3cr3t"], admin));
  });

  afterAll(async () => {
    await server?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
    await cleanup();
  });

  it("auth-method create k8s returns the access id and its private key", () => {
    const out = ok(
      cli(
        [
          "auth-method", "create", "k8s", "-n", "my-k8s-auth-method", "--bound-pod-names", "mypod1",
          "--bound-pod-names", "mypod2", "--bound-namespaces", ns, "--policies", "read-app",
          "--gateway-url", server.address, "--json",
        ],
        operator,
      ),
    );
    const created = JSON.parse(out) as { access_id: string; prv_key: string };
    expect(Object.keys(created)).toEqual(["access_id", "prv_key"]);
    expect(created.access_id).toMatch(/^p-[a-z0-9]+$/);
    expect(Buffer.from(created.prv_key, "base64").toString("utf8")).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    ({ access_id: accessId, prv_key: privateKey } = created);

    const role = JSON.parse(ok(cli(["auth-method", "get", "-name=my-k8s-auth-method", "-json", `-gateway-url=${server.address}`], operator)));
    expect(role).toMatchObject({
      access_id: accessId,
      bound_pod_names: ["mypod1", "mypod2"],
      bound_service_account_namespaces: [ns],
      bound_service_account_names: ["*"],
      token_policies: ["read-app"],
    });
  });

  it("gateway-create-k8s-auth-config refuses a signing key that is not the access id's", () => {
    const other = JSON.parse(
      ok(cli(["auth-method", "create", "k8s", "-n", "other", "--bound-namespaces", ns, "--gateway-url", server.address, "--json"], operator)),
    ) as { prv_key: string };
    const result = cli(
      [
        "gateway-create-k8s-auth-config", "--name", "k8s-conf", "--gateway-url", server.address, "--access-id", accessId,
        "--signing-key", other.prv_key, "--token-reviewer-jwt", reviewerJwt, "--k8s-host", kubeTestEnv().host,
        "--k8s-ca-cert", Buffer.from(kubeTestEnv().caPem ?? "").toString("base64"),
      ],
      operator,
    );
    expect(result.code).toBe(1);
    expect(result.stdout).toBe("");
    expect(result.stderr).toContain("Code: 400. Errors:");
    expect(result.stderr).toContain(`* field "signing_key" does not match the public key of access id "${accessId}"`);
    expect(result.stderr).not.toContain(other.prv_key);
  });

  it("gateway-create-k8s-auth-config stores a reviewer JWT, host and CA, and returns none of the secrets", () => {
    const out = ok(
      cli(
        [
          "gateway-create-k8s-auth-config", "--name", "k8s-conf", "--gateway-url", server.address, "--access-id", accessId,
          "--signing-key", privateKey, "--token-reviewer-jwt", reviewerJwt, "--k8s-host", kubeTestEnv().host,
          "--k8s-ca-cert", Buffer.from(kubeTestEnv().caPem ?? "").toString("base64"),
        ],
        operator,
      ),
    );
    expect(out).toBe("Success! Created k8s auth config k8s-conf at auth/kubernetes/config/k8s-conf\n");
    const shown = ok(cli(["gateway-get-k8s-auth-config", "-n", "k8s-conf", "--gateway-url", server.address, "--json"], operator));
    expect(JSON.parse(shown)).toMatchObject({
      access_id: accessId,
      signing_key_set: true,
      token_reviewer_jwt_set: true,
      kubernetes_host: kubeTestEnv().host,
      disable_iss_validation: true,
      token_exp: 300,
    });
    expect(shown).not.toContain(privateKey);
    expect(shown).not.toContain("PRIVATE KEY");
    const viaRead = cli(["read", "-field=disable_iss_validation", "auth/kubernetes/config/k8s-conf"], { ...operator, LATCHKEY_ADDR: server.address });
    expect(ok(viaRead)).toBe("true");
  });

  it("a bound pod logs in with its token file; the token carries the policies and the pod", async () => {
    const { path, jwt } = await podTokenFile("mypod1.jwt", pod);
    const result = podLogin(path);
    expect(result.stdout + result.stderr).not.toContain(jwt);
    const match = /^Authentication succeeded\.\nToken: (lks\.\S+)\n$/.exec(ok(result));
    expect(match).not.toBeNull();
    const token = match?.[1] ?? "";

    const self = lookupSelf(token);
    expect(self.policies).toEqual(["default", "read-app"]);
    expect(self.meta).toMatchObject({
      role: "my-k8s-auth-method",
      service_account_name: "app",
      service_account_namespace: ns,
      pod_name: "mypod1",
      pod_uid: pod.uid,
      config_name: "k8s-conf",
    });
    const read = runCli(["kv", "get", "-field=password", "secret/app/db"], { LATCHKEY_ADDR: server.address, LATCHKEY_TOKEN: token, HOME: freshHome() });
    expect(ok(read)).toBe("s3cr3t");
  });

  it("--json prints the token with its policies and expiry", async () => {
    const { path, jwt } = await podTokenFile("mypod1-json.jwt", pod);
    const out = ok(podLogin(path, ["-json"]));
    expect(out).not.toContain(jwt);
    const shown = JSON.parse(out) as { token: string; policies: string[]; ttl: number; expiry: string | null; metadata: Record<string, string> };
    expect(shown.policies).toEqual(["default", "read-app"]);
    expect(shown.metadata.pod_name).toBe("mypod1");
    expect(lookupSelf(shown.token).meta.config_name).toBe("k8s-conf");
  });

  it("a pod that is not bound is refused with the server's reason", async () => {
    for (const [name, boundPod] of [["otherpod.jwt", otherPod], ["unbound.jwt", undefined]] as const) {
      const { path, jwt } = await podTokenFile(name, boundPod);
      const result = podLogin(path);
      expect(result.code).toBe(1);
      expect(result.stdout).toBe("");
      expect(result.stderr).toContain("Code: 403. Errors:");
      expect(result.stderr).toContain("* permission denied: pod not authorized");
      expect(result.stderr).not.toContain(jwt);
    }
  });

  it("--use-gw-service-account: the server reviews with its own token file and in-cluster address", async () => {
    const tokenFile = join(dir, "gateway-sa-token");
    writeFileSync(tokenFile, reviewerJwt, { mode: 0o600 });
    const mountBody = JSON.stringify({
      type: "kubernetes",
      options: { service_account_token_path: tokenFile, service_account_ca_path: caFile },
    });
    ok(cli(["write", "sys/auth/k8s-gw", "-"], { ...operator, LATCHKEY_ADDR: server.address }, mountBody));
    const gateway = ["--gateway-url", server.address, "--mount", "k8s-gw"];
    const created = JSON.parse(
      ok(cli(["auth-method", "create", "k8s", "-n", "gw-method", "--bound-pod-names", "mypod1", "--bound-namespaces", ns, ...gateway, "--json"], operator)),
    ) as { access_id: string; prv_key: string };
    ok(
      cli(
        [
          "gateway-create-k8s-auth-config", "--name", "k8s-conf", "--access-id", created.access_id,
          "--signing-key", created.prv_key, "--use-gw-service-account", ...gateway,
        ],
        operator,
      ),
    );
    const { path } = await podTokenFile("mypod1-gw.jwt", pod);
    const result = runCli(
      [
        "auth", "--access-id", created.access_id, "--access-type", "k8s", "--k8s-auth-config-name", "k8s-conf",
        "--k8s-token-path", path, ...gateway,
      ],
      podEnv,
    );
    const token = /Token: (lks\.\S+)/.exec(ok(result))?.[1] ?? "";
    expect(lookupSelf(token).meta).toMatchObject({ pod_name: "mypod1", config_name: "k8s-conf", role: "gw-method" });
  });

  it("Vault-style verbs log in against the same cluster", async () => {
    const admin = { ...operator, LATCHKEY_ADDR: server.address };
    const reviewerFile = join(dir, "reviewer.jwt");
    writeFileSync(reviewerFile, reviewerJwt, { mode: 0o600 });
    ok(cli(["write", "auth/kubernetes/config", `kubernetes_host=${kubeTestEnv().host}`, `kubernetes_ca_cert=@${caFile}`, `token_reviewer_jwt=@${reviewerFile}`], admin));
    expect(ok(cli(["read", "-field=disable_iss_validation", "auth/kubernetes/config"], admin))).toBe("true");
    ok(cli(["write", "auth/kubernetes/role/demo", "bound_service_account_names=app", `bound_service_account_namespaces=${ns}`, "token_policies=read-app"], admin));
    const { path, jwt } = await podTokenFile("demo.jwt");

    const written = runCli(["write", "-format=json", "auth/kubernetes/login", "role=demo", `jwt=@${path}`], { ...podEnv, LATCHKEY_ADDR: server.address });
    expect(written.stdout).not.toContain(jwt);
    expect(JSON.parse(ok(written)).auth.metadata).toMatchObject({ role: "demo", service_account_namespace: ns });

    const login = runCli(["login", "-method=kubernetes", "-no-store", "-field=token", "role=demo", `jwt=@${path}`], {
      ...podEnv,
      LATCHKEY_ADDR: server.address,
    });
    expect(lookupSelf(ok(login)).policies).toEqual(["default", "read-app"]);
  });

  it("auth-method delete is refused while a gateway config signs for it, and works once the config is gone", async () => {
    const gateway = ["--gateway-url", server.address];
    const refused = cli(["auth-method", "delete", "-n", "my-k8s-auth-method", ...gateway], operator);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`* access id "${accessId}" is used by config "k8s-conf"; delete that first`);
    ok(cli(["gateway-delete-k8s-auth-config", "-n", "k8s-conf", ...gateway], operator));
    ok(cli(["auth-method", "delete", "-n", "my-k8s-auth-method", ...gateway], operator));
    const { path } = await podTokenFile("after-delete.jwt", pod);
    const result = podLogin(path);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`* invalid access id "${accessId}"`);
  });
});
