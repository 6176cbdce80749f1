import { kubernetesAuthMissing } from "../lib/k8s.js";
import type { Scenario } from "../lib/types.js";
import { JWKS_PODS, jwksLogin } from "./k8s-login-jwks-service.js";

export const k8sLoginJwksBatch: Scenario = {
  name: "k8s-login-jwks-batch",
  about: `POST auth/kubernetes/login, validation: jwks, batch tokens (no storage write), ${JWKS_PODS} pods`,
  baseline: "fastify-hello-world",
  floor: "floor-login-batch",
  target: { text: "≥ 0.8× floor", met: (r) => (r.floor_ratio ?? 0) >= 0.8 },
  unavailable: kubernetesAuthMissing,
  run: (ctx) => jwksLogin(ctx, "batch", "k8s-login-jwks-batch"),
};
