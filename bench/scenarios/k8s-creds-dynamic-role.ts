import { credsScenario, directCredsScenario } from "../lib/k8s-creds.js";

export const k8sCredsDynamicRoleDirect = directCredsScenario(
  "dynamic-role",
  "the API calls of one dynamic credential with a predefined ClusterRole, in sequence: ServiceAccount, RoleBinding, TokenRequest",
);

export const k8sCredsDynamicRole = credsScenario(
  "dynamic-role",
  "POST kubernetes/creds/<role>, dynamic mode bound to a predefined ClusterRole (ServiceAccount and RoleBinding at once, then TokenRequest)",
  1.0,
);

/**
 * The same with the role's `prepared_credentials` at 2: the first object of the next credential
 * is made after each answer, so an issue waits only for what depends on the request. 10 ms of idle
 * time after every step let that background work end before the next step is timed.
 */
export const k8sCredsDynamicRolePrepared = credsScenario(
  "dynamic-role",
  "POST kubernetes/creds/<role> as above, with prepared_credentials 2 (each step followed by 10 ms idle, the paired calls too)",
  1.0,
  { prepared: 2, gapMs: 10 },
);
