import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { kubectl } from "../helpers/k8s.js";

// Every workload latchkey ships, as `kubectl kustomize` (or the plain manifest) renders it: each runs
// non-root with a read-only root filesystem, no privilege escalation, no capabilities, seccomp
// RuntimeDefault, resource requests, and probes on every long-running container.
const deploy = (dir: string) => fileURLToPath(new URL(`../../deploy/${dir}`, import.meta.url));
// Kubernetes objects read by arbitrary fields.
type Obj = Record<string, any>;
const docs = (text: string): Obj[] => parseAllDocuments(text).map((d) => d.toJS() as Obj).filter(Boolean);

const SOURCES: Record<string, () => Promise<Obj[]>> = {
  "deploy/latchkey": async () => docs(await kubectl(["kustomize", deploy("latchkey")])),
  "deploy/ha": async () => docs(await kubectl(["kustomize", deploy("ha")])),
  "deploy/injector": async () => docs(readFileSync(deploy("injector/injector.yaml"), "utf8")),
};

describe.each(Object.keys(SOURCES))("the workloads of %s", (source) => {
  it("run locked down, with requests and probes", async () => {
    const workloads = (await SOURCES[source]!()).filter((o) => ["Deployment", "StatefulSet", "DaemonSet"].includes(o.kind));
    expect(workloads.length).toBeGreaterThan(0);
    for (const w of workloads) {
      const pod = w.spec.template.spec;
      const where = `${source} ${w.kind}/${w.metadata.name}`;
      expect(pod.securityContext, where).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } });
      for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
        const at = `${where} container ${c.name}`;
        expect(c.securityContext, at).toMatchObject({
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ["ALL"] },
        });
        expect(c.resources?.requests, at).toBeDefined();
      }
      for (const c of pod.containers) {
        expect(c.readinessProbe, `${where} ${c.name} readiness`).toBeDefined();
        expect(c.livenessProbe, `${where} ${c.name} liveness`).toBeDefined();
      }
    }
  });
});
