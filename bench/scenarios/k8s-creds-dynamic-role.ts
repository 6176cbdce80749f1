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
