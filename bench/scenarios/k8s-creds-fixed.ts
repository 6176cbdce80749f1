import { credsScenario, directCredsScenario } from "../lib/k8s-creds.js";

export const k8sCredsFixedDirect = directCredsScenario(
  "fixed",
  "the API calls of one fixed-mode credential, straight to the API server in sequence: create a Secret, TokenRequest bound to it",
);

/** Fixed mode cannot overlap its two calls (the TokenRequest names the Secret's uid): latchkey's own work is the difference. */
export const k8sCredsFixed = credsScenario(
  "fixed",
  "POST kubernetes/creds/<role>, fixed mode: a token for an existing service account, bound to a per-lease Secret",
  1.3,
);
