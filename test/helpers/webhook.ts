/**
 * The MutatingWebhookConfiguration the injector tests and the benchmark register:
 * opted-in pods of the namespaces labelled `label`=`value` only, so that it never
 * touches another test's pods on the shared cluster. The URL is a placeholder
 * until the injector listens (--tls-auto needs the configuration first).
 */
import { adminClient, deleteOnCleanup } from "./k8s.js";

export const WEBHOOKS = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations";

/** Creates it (deleted by cleanup()) with one webhook per entry of `webhookNames`. */
export async function registerWebhook(
  configName: string,
  selector: { label: string; value: string },
  opts: { webhookNames?: string[]; reviewVersions?: string[] } = {},
): Promise<void> {
  await adminClient().create(WEBHOOKS, {
    apiVersion: "admissionregistration.k8s.io/v1",
    kind: "MutatingWebhookConfiguration",
    metadata: { name: configName },
    webhooks: (opts.webhookNames ?? ["inject.latchkey.io"]).map((name) => ({
      name,
      clientConfig: { url: "https://127.0.0.1:1/mutate" },
      rules: [{ operations: ["CREATE"], apiGroups: [""], apiVersions: ["v1"], resources: ["pods"] }],
      namespaceSelector: { matchLabels: { [selector.label]: selector.value } },
      objectSelector: { matchLabels: { "latchkey.io/inject": "true" } },
      failurePolicy: "Fail",
      sideEffects: "None",
      admissionReviewVersions: opts.reviewVersions ?? ["v1"],
      timeoutSeconds: 5,
    })),
  });
  deleteOnCleanup(`${WEBHOOKS}/${configName}`);
}
