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

/**
 * The same with the role's `prepared_credentials` at 2: the first object of the next credential
 * is made after each answer, so an issue waits only for what depends on the request. 10 ms of idle
 * time after every step let that background work end before the next step is timed.
 */
export const k8sCredsFixedPrepared = credsScenario(
  "fixed",
  "POST kubernetes/creds/<role> as above, with prepared_credentials 2 (each step followed by 10 ms idle, the paired calls too)",
  1.3,
  { prepared: 2, gapMs: 10 },
);
