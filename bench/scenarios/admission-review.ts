import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { measureHttp } from "../lib/measure.js";
import { profileFlags } from "../lib/latchkey.js";
import { LATCHKEY_BIN, REPO, spawnNode, waitForOutput } from "../lib/processes.js";
import type { Scenario } from "../lib/types.js";

/** An AdmissionReview of an opted-in pod asking for two secrets in sidecar mode: a full patch each time. */
export function admissionReviewBody(): string {
  return JSON.stringify({
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    request: {
      uid: "00000000-0000-0000-0000-000000000001",
      kind: { group: "", version: "v1", kind: "Pod" },
      operation: "CREATE",
      namespace: "team",
      object: {
        apiVersion: "v1",
        kind: "Pod",
        metadata: {
          name: "app",
          labels: { "latchkey.io/inject": "true" },
          annotations: {
            "latchkey.io/role": "app",
            "latchkey.io/mode": "sidecar",
            "latchkey.io/on-change": "SIGHUP",
            "latchkey.io/inject-secret-db": "secret/data/db",
            "latchkey.io/inject-template-db": "{{ .data.password }}",
            "latchkey.io/inject-secret-api": "secret/data/api",
          },
        },
        spec: {
          serviceAccountName: "app",
          containers: [
            {
              name: "app",
              image: "app:1",
              command: ["/usr/bin/app"],
              env: [{ name: "TOKEN", value: "latchkey:secret/data/api#token" }],
              volumeMounts: [{ name: "kube-api-access-x", mountPath: "/var/run/secrets/kubernetes.io/serviceaccount", readOnly: true }],
            },
          ],
        },
      },
    },
  });
}

/** `POST /mutate` straight to `latchkey injector` over HTTPS: the webhook's own cost per pod. */
export const admissionReview: Scenario = {
  name: "admission-review",
  about: "POST /mutate AdmissionReview (opted-in pod, sidecar + agent exec patch) to latchkey injector over HTTPS",
  baseline: "fastify-hello-world",
  target: { text: "p99 <= 5 ms", met: (r) => r.p99_ms !== null && r.p99_ms <= 5 },
  async run(ctx) {
    const { generatePair } = (await import(pathToFileURL(join(REPO, "dist", "injector", "tls.js")).href)) as typeof import("../../src/injector/tls.js");
    const pair = await generatePair(["127.0.0.1"], 24 * 3_600_000);
    const certFile = join(ctx.workDir, "tls.crt");
    const keyFile = join(ctx.workDir, "tls.key");
    writeFileSync(certFile, pair.cert);
    writeFileSync(keyFile, pair.key, { mode: 0o600 });
    const server = spawnNode(
      [
        LATCHKEY_BIN, "injector",
        "--listen", "127.0.0.1:0",
        "--latchkey-addr", "https://latchkey.latchkey.svc:8200",
        "--agent-image", "latchkey:bench",
        "--tls-cert-file", certFile,
        "--tls-key-file", keyFile,
        "--native-sidecars", "off",
        "--reconcile-interval", "0",
      ],
      { cpus: ctx.settings.cpus?.server, nodeFlags: profileFlags(ctx, "admission-review") },
    );
    ctx.defer(() => server.stop());
    const [, port] = await waitForOutput(server, /"port":(\d+)/);
    return measureHttp(ctx, server, {
      url: `https://127.0.0.1:${port}`,
      tlsCa: pair.caPem,
      request: { method: "POST", path: "/mutate", headers: { "content-type": "application/json" }, body: admissionReviewBody() },
    });
  },
};
