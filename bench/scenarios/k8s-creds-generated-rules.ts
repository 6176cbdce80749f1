import { credsScenario, directCredsScenario } from "../lib/k8s-creds.js";

export const k8sCredsGeneratedRulesDirect = directCredsScenario(
  "generated-rules",
  "the API calls of one dynamic credential with generated rules, in sequence: ServiceAccount, Role, RoleBinding, TokenRequest",
);

export const k8sCredsGeneratedRules = credsScenario(
  "generated-rules",
  "POST kubernetes/creds/<role>, dynamic mode with a Role generated from rules (ServiceAccount, Role and RoleBinding at once, then TokenRequest)",
  1.0,
);
