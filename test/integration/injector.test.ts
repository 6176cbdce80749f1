/**
 * The injector behind the real kube-apiserver: the API server, not our code,
 * calls the webhook, and the pod spec read back is what etcd stores.
 */
import { execFile } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningInjector } from "../../src/injector/run.js";
import type { Pod } from "../../src/kube/types.js";
import { INJECTOR_LABEL, WEBHOOKS, webhookInjector } from "../helpers/injection.js";
import { adminClient, cleanup, eventually, kubeTestEnv, uniqueName, uniqueNamespace } from "../helpers/k8s.js";

interface Container {
  name: string;
  command?: string[];
  args?: string[];
  restartPolicy?: string;
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
}
interface StoredPod extends Pod {
  spec: Pod["spec"] & { initContainers?: Container[]; volumes?: { name: string }[]; shareProcessNamespace?: boolean };
}

/** Real kubectl with stdout and stderr (admission warnings arrive on stderr). */
function kubectlBoth(args: string[], input = ""): Promise<{ stdout: string; stderr: string; code: number }> {
  const { kubeconfig, host, admin } = kubeTestEnv();
  const connection = kubeconfig ? [] : [`--server=${host}`, `--token=${admin.token ?? ""}`, `--certificate-authority=${process.env.KUBE_CA ?? ""}`];
  return new Promise((resolve) => {
    const child = execFile(
      process.env.KUBECTL ?? "kubectl",
      [...connection, ...args],
      { env: { ...process.env, ...(kubeconfig ? { KUBECONFIG: kubeconfig } : {}) }, timeout: 60_000 },
      (err, stdout, stderr) => resolve({ stdout, stderr, code: err ? 1 : 0 }),
    );
    child.stdin?.end(input);
  });
}

describe("latchkey injector behind kube-apiserver", () => {
  let ns: string;
  let injector: RunningInjector & { configName: string };
  const selectorValue = uniqueName("inj");

  beforeAll(async () => {
    ns = await uniqueNamespace({ [INJECTOR_LABEL]: selectorValue });
    injector = await webhookInjector({ selectorValue, latchkeyAddr: "https://latchkey.latchkey.svc:8200", agentImage: "latchkey/latchkey:test" });
    // The default service account must exist before pods can be admitted.
    await eventually("default service account", async () => {
      const out = await kubectlBoth(["-n", ns, "get", "serviceaccount", "default"]);
      return out.code === 0;
    }, 60_000);
  }, 120_000);

  afterAll(async () => {
    await injector?.close();
    await cleanup();
  });

  function podYaml(name: string, annotations: Record<string, string>, labelled = true, container: Record<string, unknown> = {}): string {
    return JSON.stringify({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name, namespace: ns, labels: labelled ? { "latchkey.io/inject": "true" } : {}, annotations },
      spec: { containers: [{ name: "app", image: "app:1", command: ["/usr/bin/app"], args: ["--serve"], ...container }] },
    });
  }

  async function stored(name: string): Promise<StoredPod> {
    return adminClient().get<StoredPod>(`/api/v1/namespaces/${ns}/pods/${name}`);
  }

  it("publishes the generated CA in the webhook's caBundle", async () => {
    const config = await adminClient().get<{ webhooks: { clientConfig: { caBundle: string } }[] }>(`${WEBHOOKS}/${injector.configName}`);
    const bundle = Buffer.from(config.webhooks[0]?.clientConfig.caBundle ?? "", "base64").toString();
    expect(bundle).toBe(injector.bundle());
    // The serving CA and the next one, and never a private key.
    expect(bundle.match(/-----BEGIN CERTIFICATE-----/g)).toHaveLength(2);
    expect(bundle).not.toContain("PRIVATE KEY");
  });

  it("injects an init container, the secrets volume and mounts, and the token mount into the stored pod", async () => {
    const annotations = { "latchkey.io/role": "app", "latchkey.io/inject-secret-db": "secret/data/db" };
    const out = await kubectlBoth(["apply", "-f", "-"], podYaml("init-pod", annotations));
    expect(out.stderr).toBe("");
    expect(out.code).toBe(0);
    const pod = await stored("init-pod");
    expect(pod.metadata.annotations?.["latchkey.io/status"]).toBe("injected");
    const init = pod.spec.initContainers?.[0];
    expect(init?.name).toBe("latchkey-init");
    expect(init?.command).toEqual(["/latchkey/bin/latchkey", "agent"]);
    expect(init?.args).toContain("secret/data/db".replace(/^/, "db="));
    expect(init?.volumeMounts?.map((m) => m.mountPath)).toEqual(["/latchkey/secrets", "/var/run/secrets/kubernetes.io/serviceaccount"]);
    expect(pod.spec.volumes?.map((v) => v.name)).toContain("latchkey-secrets");
    const app = pod.spec.containers[0] as Container;
    expect(app.volumeMounts).toContainEqual({ name: "latchkey-secrets", mountPath: "/latchkey/secrets", readOnly: true });
  });

  it("rewrites the command of a container using latchkey: env values, and keeps no secret in the stored spec", async () => {
    const out = await kubectlBoth(
      ["apply", "-f", "-"],
      podYaml("exec-pod", { "latchkey.io/role": "app" }, true, { env: [{ name: "DB_PASSWORD", value: "latchkey:secret/data/db#password" }] }),
    );
    expect(out.code).toBe(0);
    const pod = await stored("exec-pod");
    expect(pod.spec.initContainers?.map((c) => c.name)).toEqual(["latchkey-copy"]);
    const app = pod.spec.containers[0] as Container;
    expect(app.command?.slice(0, 3)).toEqual(["/latchkey/bin/latchkey", "agent", "exec"]);
    expect(app.command?.slice(-2)).toEqual(["--", "/usr/bin/app"]);
    expect(app.args).toEqual(["--serve"]);
    expect(app.volumeMounts?.map((m) => m.mountPath)).toContain("/latchkey/bin");
  });

  it("falls back from native-sidecar to a sidecar on 1.20, and kubectl shows the warning", async () => {
    const annotations = { "latchkey.io/role": "app", "latchkey.io/inject-secret-db": "secret/data/db", "latchkey.io/mode": "native-sidecar" };
    const out = await kubectlBoth(["apply", "-f", "-"], podYaml("native-pod", annotations));
    expect(out.code).toBe(0);
    expect(out.stderr).toContain(
      "Warning: latchkey: this API server does not run native sidecars (Kubernetes 1.29+); injected a sidecar container instead",
    );
    const pod = await stored("native-pod");
    expect(pod.spec.initContainers).toBeUndefined();
    expect(pod.spec.containers.map((c) => c.name)).toEqual(["app", "latchkey-agent"]);
  });

  it("refuses an opted-in pod with a bad annotation, naming it", async () => {
    const out = await kubectlBoth(["apply", "-f", "-"], podYaml("bad-pod", { "latchkey.io/role": "app", "latchkey.io/mode": "daemon" }));
    expect(out.code).toBe(1);
    expect(out.stderr).toContain('latchkey.io/mode must be one of init, sidecar, native-sidecar, not "daemon"');
    expect((await kubectlBoth(["-n", ns, "get", "pod", "bad-pod"])).code).toBe(1);
  });

  it("leaves pods without the label untouched", async () => {
    const out = await kubectlBoth(["apply", "-f", "-"], podYaml("plain-pod", { "latchkey.io/role": "app", "latchkey.io/inject-secret-db": "secret/data/db" }, false));
    expect(out.code).toBe(0);
    const pod = await stored("plain-pod");
    expect(pod.metadata.annotations?.["latchkey.io/status"]).toBeUndefined();
    expect(pod.spec.initContainers).toBeUndefined();
  });

  it("rejects no pod and leaves none unmutated while the certificate is renewed", async () => {
    const annotations = { "latchkey.io/role": "app", "latchkey.io/inject-secret-db": "secret/data/db" };
    const names: string[] = [];
    let creating = true;
    const failures: string[] = [];
    const loop = (async () => {
      for (let i = 0; creating || i < 6; i++) {
        const name = `rot-${i}`;
        names.push(name);
        const res = await adminClient().create<StoredPod>(`/api/v1/namespaces/${ns}/pods`, JSON.parse(podYaml(name, annotations))).catch((err: Error) => {
          failures.push(`${name}: ${err.message}`);
          return undefined;
        });
        if (res && res.metadata.annotations?.["latchkey.io/status"] !== "injected") failures.push(`${name}: not injected`);
      }
    })();
    const before = injector.bundle();
    await injector.rotate();
    await injector.rotate();
    creating = false;
    await loop;
    expect(injector.bundle()).not.toBe(before);
    expect(failures).toEqual([]);
    expect(names.length).toBeGreaterThanOrEqual(6);
  }, 120_000);
});
