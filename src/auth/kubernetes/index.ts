export { createKubernetesBackend, kubernetesBackendFactory, type KubernetesBackendOptions } from "./backend.js";
export { createKubeConnector, type KubeConnectorOptions } from "./kube-cluster.js";
export { createLocalServiceAccountFiles, DEFAULT_CA_PATH, DEFAULT_TOKEN_PATH } from "./local-files.js";
export type {
  ClusterConnection,
  ClusterConnector,
  JwksSource,
  NamespaceLookup,
  ReviewResult,
  TokenReviewer,
} from "./types.js";
