import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, posix, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { parseConfig } from "../../src/server/config.js";
import { cleanup, deleteOnCleanup, forTestServer, kubectl, uniqueName } from "../helpers/k8s.js";

const DEPLOY = fileURLToPath(new URL("../../deploy/latchkey", import.meta.url));
const { version: VERSION } = JSON.parse(readFileSync(fileURLToPath(new URL("../../package.json", import.meta.url)), "utf8")) as {
  version: string;
};

// Kubernetes objects as kustomize renders them; the test reads arbitrary fields.
type Obj = Record<string, any>;
const render = async (dir: string): Promise<Obj[]> =>
  parseAllDocuments(await kubectl(["kustomize", dir])).map((d) => d.toJS() as Obj);
const one = (objs: Obj[], kind: string, name?: string) => {
  const found = objs.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  expect(found, `${kind} ${name ?? ""}`).toHaveLength(1);
  return found[0];
};

describe("deploy/latchkey (kustomize)", () => {
  let objs: Obj[];
  beforeAll(async () => {
    objs = await render(DEPLOY);
  });
  afterAll(cleanup);

  it("renders a namespace, a service account bound to system:auth-delegator, the config, Services and a StatefulSet", () => {
    expect(objs.map((o) => o.kind).sort()).toEqual(
      ["ClusterRoleBinding", "ConfigMap", "Namespace", "PodDisruptionBudget", "Service", "Service", "ServiceAccount", "StatefulSet"].sort(),
    );
    const crb = one(objs, "ClusterRoleBinding");
    expect(crb.roleRef).toEqual({ apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "system:auth-delegator" });
    expect(crb.subjects).toEqual([{ kind: "ServiceAccount", name: "latchkey", namespace: "latchkey" }]);
    for (const o of objs.filter((x) => x.kind !== "Namespace" && x.kind !== "ClusterRoleBinding")) {
      expect(o.metadata.namespace, `${o.kind} ${o.metadata.name}`).toBe("latchkey");
    }
  });

  it("runs the server non-root, read-only, unprivileged, with probes on sys/health and the image of this version", () => {
    const sts = one(objs, "StatefulSet");
    expect(sts.spec.replicas).toBe(1);
    const pod = sts.spec.template.spec;
    expect(pod.serviceAccountName).toBe("latchkey");
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: "RuntimeDefault" } });
    const [c] = pod.containers as Obj[];
    expect(c.image).toBe(`latchkey:${VERSION}`);
    expect(c.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      privileged: false,
      capabilities: { drop: ["ALL"] },
    });
    expect(c.resources.requests).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
    for (const probe of [c.readinessProbe, c.livenessProbe]) {
      expect(probe.httpGet.path).toMatch(/^\/v1\/sys\/health(\?|$)/);
      expect(probe.httpGet.port).toBe("http");
    }
    // A sealed server is not ready (it cannot serve) but is alive (a restart would not unseal it).
    expect(new URL(c.readinessProbe.httpGet.path, "http://x").searchParams.get("sealedcode")).toBeNull();
    expect(new URL(c.livenessProbe.httpGet.path, "http://x").searchParams.get("sealedcode")).toBe("200");
  });

  it("agrees with the code: the config parses, and its port, database and key file are where the StatefulSet mounts them", () => {
    const sts = one(objs, "StatefulSet");
    const pod = sts.spec.template.spec;
    const [c] = pod.containers as Obj[];
    const cm = one(objs, "ConfigMap");
    const config = parseConfig(parseAllDocuments(cm.data["latchkey.yaml"])[0].toJS(), "latchkey.yaml");
    expect(c.command).toBeUndefined(); // the image's entrypoint, /latchkey/bin/latchkey
    expect(c.args.slice(0, 2)).toEqual(["server", "--config"]);

    const mountOf = (volume: string) => (c.volumeMounts as Obj[]).find((m) => m.name === volume)!.mountPath as string;
    const volume = (name: string) => (pod.volumes as Obj[]).find((v) => v.name === name)!;
    expect(posix.dirname(c.args[2])).toBe(mountOf("config"));
    expect(volume("config").configMap.name).toBe(cm.metadata.name);
    expect(posix.basename(c.args[2])).toBe("latchkey.yaml");

    const port = Number(config.listener.address.split(":").pop());
    expect(config.listener.address.startsWith("0.0.0.0:")).toBe(true);
    expect(c.ports).toEqual([{ name: "http", containerPort: port }]);
    for (const svc of objs.filter((o) => o.kind === "Service")) {
      expect(svc.spec.ports).toEqual([{ name: "http", port, targetPort: "http" }]);
      expect(svc.spec.selector).toEqual(sts.spec.selector.matchLabels);
    }

    expect(config.storage).toEqual({ type: "sqlite", path: `${mountOf("data")}/latchkey.db` });
    expect(sts.spec.volumeClaimTemplates.map((v: Obj) => v.metadata.name)).toEqual(["data"]);
    expect(config.seal).toEqual({ type: "auto", keyFile: `${mountOf("unseal")}/unseal.key` });
    expect(volume("unseal").secret).toMatchObject({ secretName: "latchkey-unseal", defaultMode: 0o400 });
    expect(volume("unseal").secret.optional).toBeUndefined();
    expect((c.volumeMounts as Obj[]).find((m) => m.name === "unseal")!.readOnly).toBe(true);
    // With the root filesystem read-only, /tmp is the one writable place besides the data volume.
    expect(volume("tmp").emptyDir).toMatchObject({ medium: "Memory" });
  });

  it("the real API server accepts every object (applied into a namespace of its own)", async () => {
    const ns = uniqueName("lk-deploy");
    const suffix = ns.slice("lk-deploy".length);
    const overlay = mkdtempSync(join(tmpdir(), "latchkey-deploy-"));
    try {
      writeFileSync(
        join(overlay, "kustomization.yaml"),
        [`apiVersion: kustomize.config.k8s.io/v1beta1`, `kind: Kustomization`, `namespace: ${ns}`, `nameSuffix: ${suffix}`, `resources:`, `  - ${relative(overlay, DEPLOY)}`].join("\n"),
      );
      const rendered = await render(overlay);
      expect(one(rendered, "Namespace").metadata.name).toBe(ns);
      deleteOnCleanup(`/api/v1/namespaces/${ns}`);
      deleteOnCleanup(`/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/latchkey-auth-delegator${suffix}`);
      // A server-side dry run first (the namespace must exist for it), then the real thing.
      await kubectl(["create", "namespace", ns]);
      const manifest = await forTestServer(await kubectl(["kustomize", overlay]));
      const dry = await kubectl(["apply", "--dry-run=server", "-f", "-"], { input: manifest });
      expect(dry).toContain(`statefulset.apps/latchkey${suffix} created (server dry run)`);
      const applied = await kubectl(["apply", "-f", "-"], { input: manifest });
      expect(applied).toContain(`poddisruptionbudget.policy/latchkey${suffix} created`);
      expect(applied).toContain(`statefulset.apps/latchkey${suffix} created`);
      expect(applied).toContain(`clusterrolebinding.rbac.authorization.k8s.io/latchkey-auth-delegator${suffix} created`);

      // The test cluster runs no workload controllers: what the API server stored is what a pod would get.
      const sts = JSON.parse(await kubectl(["get", "statefulset", "-n", ns, `latchkey${suffix}`, "-o", "json"])) as Obj;
      const pod = sts.spec.template.spec;
      expect(pod.serviceAccountName).toBe(`latchkey${suffix}`);
      expect(pod.containers[0].securityContext.readOnlyRootFilesystem).toBe(true);
      expect(pod.volumes.find((v: Obj) => v.name === "config").configMap.name).toMatch(new RegExp(`^latchkey-config${suffix}-[a-z0-9]+$`));
      const names = await kubectl(["get", "serviceaccounts,services,configmaps", "-n", ns, "-o", "name"]);
      for (const name of [`serviceaccount/latchkey${suffix}`, `service/latchkey${suffix}`, `service/latchkey-internal${suffix}`]) {
        expect(names).toContain(name);
      }
    } finally {
      rmSync(overlay, { recursive: true, force: true });
    }
  }, 120_000);
});
