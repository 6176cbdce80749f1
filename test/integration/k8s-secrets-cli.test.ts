/**
 * Reference 001's kubernetes dynamic secrets from the built CLI, against a
 * built server process and the real API server: an operator creates a target
 * (`target create k8s`) and dynamic secrets in fixed and dynamic mode
 * (`dynamic-secret create k8s`), writes a kubeconfig (`kubeconfig-generate`),
 * and the real kubectl authenticates through its exec user, which runs
 * `get-dynamic-secret-value`.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  cleanup,
  createClusterRole,
  createPod,
  createRole,
  createRoleBinding,
  createServiceAccount,
  kubeTestEnv,
  reviewToken,
  serviceAccountSubject,
  uniqueName,
  uniqueNamespace,
} from "../helpers/k8s.js";
import { api, freshHome, runCli, startServerProcess, type CliResult, type ServerProcess } from "../helpers/process.js";

const ROOT = "lks.k8s-secrets-cli-root";
const PODS_ONLY = [{ apiGroups: [""], resources: ["pods"], verbs: ["get", "list"] }];

describe("kubernetes dynamic secrets from the CLI, against a real cluster", () => {
  let server: ServerProcess;
  let dir: string;
  let ns: string;
  let other: string;
  let operator: Record<string, string>;
  const adminToken = () => kubeTestEnv().admin.token ?? "";

  const ok = (result: CliResult): string => {
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(result.stdout + result.stderr).not.toContain(adminToken());
    return result.stdout;
  };
  /** The real kubectl with only the generated kubeconfig: its user is the exec plugin. */
  const kubectl = (kubeconfig: string, args: string[]) => {
    const { KUBECONFIG: _admin, ...env } = process.env;
    const res = spawnSync(process.env.KUBECTL ?? "kubectl", ["--kubeconfig", kubeconfig, ...args], {
      env: { ...env, ...operator },
      encoding: "utf8",
      timeout: 60_000,
    });
    return { code: res.status, stdout: res.stdout, stderr: res.stderr };
  };

  beforeAll(async () => {
    const kube = kubeTestEnv();
    if (!kube.caPem || !kube.admin.token) throw new Error("this suite needs KUBE_HOST, KUBE_ADMIN_TOKEN and KUBE_CA (or a kubeconfig with a token and CA)");
    dir = mkdtempSync(join(tmpdir(), "latchkey-k8s-secrets-cli-"));
    writeFileSync(join(dir, "ca.crt"), kube.caPem);
    writeFileSync(join(dir, "admin.token"), kube.admin.token, { mode: 0o600 });

    ns = await uniqueNamespace({ "latchkey.test/suite": "k8s-secrets-cli" });
    other = await uniqueNamespace({ "latchkey.test/suite": "k8s-secrets-cli" });
    await createPod(ns, "web", "default");
    await createServiceAccount(ns, "reader");
    await createRole(ns, "pod-reader", PODS_ONLY);
    await createRoleBinding(ns, "reader-pods", { kind: "Role", name: "pod-reader" }, [serviceAccountSubject(ns, "reader")]);

    server = await startServerProcess(["--dev", "--dev-root-token", ROOT, "--listen", "127.0.0.1:0"]);
    operator = { LATCHKEY_ADDR: server.address, LATCHKEY_TOKEN: ROOT, HOME: freshHome() };
    expect(ok(runCli(["secrets", "enable", "kubernetes"], operator))).toBe("Success! Enabled the kubernetes secrets engine at: kubernetes/\n");
  });

  afterAll(async () => {
    // Each kubectl run above issued a lease; revoking them deletes the service accounts and bindings they made.
    if (server) await api(server.address, "PUT", "sys/leases/revoke-prefix/kubernetes", ROOT);
    await server?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
    await cleanup();
  });

  it("target create k8s writes a bearer-token target, read back without its token", async () => {
    const out = ok(
      runCli(
        [
          "target", "create", "k8s", "--name", "test-cluster", "--k8s-cluster-endpoint", kubeTestEnv().host,
          "--k8s-cluster-ca-cert", `@${join(dir, "ca.crt")}`, "--k8s-cluster-token", `@${join(dir, "admin.token")}`,
        ],
        operator,
      ),
    );
    expect(out).toBe("Success! Created target test-cluster at kubernetes/targets/test-cluster\n");
    const read = await api(server.address, "GET", "kubernetes/targets/test-cluster", ROOT);
    expect(read.json.data).toMatchObject({ kubernetes_host: kubeTestEnv().host, service_account_jwt_set: true });
    expect(read.text).not.toContain(adminToken());
    const again = runCli(["target", "create", "k8s", "--name", "test-cluster", "--use-gw-service-account"], operator);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe("Error: The target test-cluster already exists at kubernetes/targets/test-cluster\n");
  });

  it("fixed mode: kubectl lists pods through the exec user and is refused secrets", async () => {
    ok(
      runCli(
        [
          "dynamic-secret", "create", "k8s", "--name", "reader", "--target-name", "test-cluster", "--k8s-service-account-type", "fixed",
          "--k8s-service-account", "reader", "--k8s-namespace", ns, "--user-ttl", "15m",
        ],
        operator,
      ),
    );
    const value = JSON.parse(ok(runCli(["get-dynamic-secret-value", "--name", "reader"], operator)));
    expect(value).toMatchObject({ kind: "ExecCredential", apiVersion: "client.authentication.k8s.io/v1beta1", spec: {} });
    expect(value.status.expirationTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const review = await reviewToken(value.status.token);
    expect(review.user?.username).toBe(`system:serviceaccount:${ns}:reader`);

    const kubeconfig = join(dir, "reader.kubeconfig");
    ok(runCli(["kubeconfig-generate", "--name", "reader", "--namespace", ns, "--output", kubeconfig], operator));
    const pods = kubectl(kubeconfig, ["get", "pods", "-n", ns, "-o", "name"]);
    expect(pods.stderr).toBe("");
    expect(pods.code).toBe(0);
    expect(pods.stdout).toBe("pod/web\n");
    const secrets = kubectl(kubeconfig, ["get", "secrets", "-n", ns]);
    expect(secrets.code).not.toBe(0);
    expect(secrets.stderr).toContain(`User "system:serviceaccount:${ns}:reader" cannot list resource "secrets"`);
  });

  it("dynamic mode with a predefined ClusterRole: pods in the allowed namespace only, no secrets", async () => {
    const clusterRole = uniqueName("lk-cli-pods");
    await createClusterRole(clusterRole, PODS_ONLY);
    ok(
      runCli(
        [
          "dynamic-secret", "create", "k8s", "--name", "jit-pods", "--target-name", "test-cluster", "--k8s-service-account-type", "dynamic",
          "--k8s-predefined-role-type", "ClusterRole", "--k8s-predefined-role-name", clusterRole, "--k8s-allowed-namespaces", ns,
          "--user-ttl", "10m",
        ],
        operator,
      ),
    );
    const kubeconfig = join(dir, "jit.kubeconfig");
    ok(runCli(["kubeconfig-generate", "--name", "jit-pods", "--namespace", ns, "--output", kubeconfig], operator));
    const pods = kubectl(kubeconfig, ["get", "pods", "-o", "name"]);
    expect(pods.stderr).toBe("");
    expect(pods.code).toBe(0);
    expect(pods.stdout).toBe("pod/web\n");
    const secrets = kubectl(kubeconfig, ["get", "secrets"]);
    expect(secrets.code).not.toBe(0);
    expect(secrets.stderr).toMatch(/User "system:serviceaccount:[^"]+" cannot list resource "secrets"/);
    // The plugin asks for the context's namespace; another namespace is refused by the role before any token exists.
    const elsewhere = runCli(["get-dynamic-secret-value", "--name", "jit-pods", "--args", `namespace=${other}`], operator);
    expect(elsewhere.code).toBe(1);
    expect(elsewhere.stdout).toBe("");
    expect(elsewhere.stderr).toContain(`namespace "${other}" is not allowed by role "jit-pods"`);
  });

  it("dynamic mode with a Role + RoleBinding YAML definition, and --json", async () => {
    const yaml = [
      "apiVersion: rbac.authorization.k8s.io/v1",
      "kind: Role",
      "metadata:",
      "  name: example-role",
      "rules:",
      '- apiGroups: [""]',
      '  resources: ["pods"]',
      '  verbs: ["list"]',
      "---",
      "apiVersion: rbac.authorization.k8s.io/v1",
      "kind: RoleBinding",
      "metadata:",
      "  name: example-role",
      "roleRef:",
      "  apiGroup: rbac.authorization.k8s.io",
      "  kind: Role",
      "  name: example-role",
      "",
    ].join("\n");
    writeFileSync(join(dir, "rb.yaml"), yaml);
    ok(
      runCli(
        [
          "dynamic-secret", "create", "k8s", "--name", "jit-yaml", "--target-name", "test-cluster", "--k8s-service-account-type", "dynamic",
          "--k8s-rolebinding-yaml-def", join(dir, "rb.yaml"), "--k8s-allowed-namespaces", `${ns},${other}`,
        ],
        operator,
      ),
    );
    const data = JSON.parse(ok(runCli(["get-dynamic-secret-value", "-n", "jit-yaml", "--args", `namespace=${other}`, "--json"], operator)));
    expect(data).toMatchObject({ service_account_namespace: other, cluster_endpoint: kubeTestEnv().host });
    const kubeconfig = join(dir, "yaml.kubeconfig");
    writeFileSync(kubeconfig, ok(runCli(["kubeconfig-generate", "-n", "jit-yaml", "--namespace", other], operator)));
    const pods = kubectl(kubeconfig, ["get", "pods"]);
    expect(pods.code).toBe(0);
    expect(pods.stderr).toContain(`No resources found in ${other} namespace.`);
    expect(kubectl(kubeconfig, ["get", "pods", "-n", ns]).code).not.toBe(0);
  });

  it("the exec user answers the ExecCredential version kubectl asks for (v1)", () => {
    const kubeconfig = join(dir, "v1.kubeconfig");
    const text = ok(runCli(["kubeconfig-generate", "-n", "reader", "--namespace", ns, "--json"], operator));
    const config = JSON.parse(text);
    config.users[0].user.exec.apiVersion = "client.authentication.k8s.io/v1";
    writeFileSync(kubeconfig, JSON.stringify(config));
    const pods = kubectl(kubeconfig, ["get", "pods", "-o", "name"]);
    expect(pods.stderr).toBe("");
    expect(pods.stdout).toBe("pod/web\n");
    // kubectl sets KUBERNETES_EXEC_INFO itself; a direct run shows the same answer.
    const direct = execFileSync(process.execPath, [config.users[0].user.exec.args[0], ...config.users[0].user.exec.args.slice(1)], {
      env: { ...process.env, ...operator, KUBERNETES_EXEC_INFO: JSON.stringify({ apiVersion: "client.authentication.k8s.io/v1", kind: "ExecCredential" }) },
      encoding: "utf8",
    });
    expect(JSON.parse(direct).apiVersion).toBe("client.authentication.k8s.io/v1");
  });
});
