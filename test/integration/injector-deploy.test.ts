/** The injector's shipped manifests, validated by the real API server (server-side dry run). */
import { readFileSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { cleanup, forTestServer, kubectl, uniqueNamespace } from "../helpers/k8s.js";

const MANIFEST = readFileSync(new URL("../../deploy/injector/injector.yaml", import.meta.url), "utf8");

describe("deploy/injector", () => {
  afterAll(cleanup);

  it("is accepted by kube-apiserver", async () => {
    const ns = await uniqueNamespace();
    const manifest = await forTestServer(MANIFEST.replace(/namespace: latchkey\b/g, `namespace: ${ns}`));
    const out = await kubectl(["apply", "--dry-run=server", "-f", "-"], { input: manifest });
    const applied = out.trim().split("\n").map((line) => line.replace(/ (created|configured|unchanged) \(server dry run\)$/, ""));
    expect(applied.sort()).toEqual(
      [
        "clusterrole.rbac.authorization.k8s.io/latchkey-injector",
        "clusterrolebinding.rbac.authorization.k8s.io/latchkey-injector",
        "deployment.apps/latchkey-injector",
        "mutatingwebhookconfiguration.admissionregistration.k8s.io/latchkey-injector",
        "poddisruptionbudget.policy/latchkey-injector",
        "role.rbac.authorization.k8s.io/latchkey-injector",
        "rolebinding.rbac.authorization.k8s.io/latchkey-injector",
        "secret/latchkey-injector-tls",
        "lease.coordination.k8s.io/latchkey-injector-tls",
        "service/latchkey-injector",
        "serviceaccount/latchkey-injector",
      ].sort(),
    );
  }, 60_000);

  it("fails closed only for opted-in pods, with a 5 s timeout and no side effects", () => {
    const webhook = MANIFEST.slice(MANIFEST.indexOf("kind: MutatingWebhookConfiguration"));
    expect(webhook).toContain("failurePolicy: Fail");
    expect(webhook).toContain('matchLabels: { latchkey.io/inject: "true" }');
    expect(webhook).toContain('values: ["kube-system", "latchkey"]');
    expect(webhook).toContain("timeoutSeconds: 5");
    expect(webhook).toContain("sideEffects: None");
    expect(MANIFEST).toContain("replicas: 2");
  });

  it("runs the replicas with shared --tls-auto, allowed only the one Secret and the one Lease by name", () => {
    expect(MANIFEST).toContain("--tls-auto");
    expect(MANIFEST).toContain("--tls-secret-name=latchkey-injector-tls");
    const role = MANIFEST.slice(MANIFEST.indexOf("kind: Role\n"), MANIFEST.indexOf("kind: RoleBinding"));
    expect(role).toContain('resources: ["secrets"]\n    resourceNames: ["latchkey-injector-tls"]\n    verbs: ["get", "update"]');
    expect(role).toContain('resources: ["leases"]\n    resourceNames: ["latchkey-injector-tls"]\n    verbs: ["get", "update"]');
    expect(role.match(/resources:/g)).toHaveLength(2);
    expect(MANIFEST).not.toMatch(/resources: \["secrets"\]\n(?!    resourceNames)/);
  });
});
