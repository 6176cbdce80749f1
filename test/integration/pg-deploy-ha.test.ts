import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { cleanup, forTestServer, kubectl, uniqueNamespace } from "../helpers/k8s.js";

const overlay = fileURLToPath(new URL("../../deploy/ha", import.meta.url));

describe("deploy/ha", () => {
  afterAll(cleanup);

  it("is accepted by the real API server: three replicas, a PDB, the PostgreSQL URL mounted from a Secret", async () => {
    const namespace = await uniqueNamespace();
    const rendered = await forTestServer(await kubectl(["kustomize", overlay]));
    const out = await kubectl(["apply", "--dry-run=server", "-n", namespace, "-f", "-", "-o", "json"], { input: rendered });
    const items = (JSON.parse(out) as { items: { kind: string; spec?: any }[] }).items;
    expect(items.map((i) => i.kind).sort()).toEqual(["ClusterRoleBinding", "ConfigMap", "Deployment", "PodDisruptionBudget", "Service", "ServiceAccount"]);
    const deployment = items.find((i) => i.kind === "Deployment")!;
    expect(deployment.spec.replicas).toBe(3);
    expect(items.find((i) => i.kind === "PodDisruptionBudget")!.spec.minAvailable).toBe(2);
    const pod = deployment.spec.template.spec;
    expect(pod.volumes).toContainEqual(expect.objectContaining({ secret: expect.objectContaining({ secretName: "latchkey-postgres" }) }));
    // The URL is a file, not an environment variable anyone with `get pods` could read.
    expect(JSON.stringify(pod.containers[0].env ?? [])).not.toMatch(/postgres/i);
  });
});
