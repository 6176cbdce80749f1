export { createKubernetesSecretsBackend, kubernetesSecretsBackendFactory, type KubernetesSecretsOptions } from "./backend.js";
export { createTargetClients, gatewayFiles, type GatewayFiles } from "./clusters.js";
export type { ClusterApi, EngineRole, LeaseInternal, ObjectRef, Target, TargetClients } from "./types.js";
