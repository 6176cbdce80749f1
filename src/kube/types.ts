/** The few Kubernetes object shapes latchkey reads and writes; fields it never touches are left out. */

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
}

export interface KubeList<T> {
  apiVersion?: string;
  kind?: string;
  metadata: { resourceVersion?: string; continue?: string };
  items: T[];
}

export interface Namespace extends KubeObject {
  status?: { phase?: string };
}

export interface ServiceAccount extends KubeObject {
  automountServiceAccountToken?: boolean;
}

export interface Pod extends KubeObject {
  spec: {
    serviceAccountName?: string;
    containers: { name: string; image: string }[];
    [field: string]: unknown;
  };
  status?: { phase?: string };
}

/** authentication.k8s.io/v1 TokenReview `status`. */
export interface TokenReviewStatus {
  authenticated: boolean;
  user?: {
    username?: string;
    uid?: string;
    groups?: string[];
    /** Pod-bound tokens carry `authentication.kubernetes.io/pod-name` and `.../pod-uid`. */
    extra?: Record<string, string[]>;
  };
  /** The audiences the token is valid for, out of those requested. */
  audiences?: string[];
  error?: string;
}

export interface TokenRequestOptions {
  /** Omitted or empty: the API server's own audiences (`--api-audiences`). */
  audiences?: string[];
  /** The API server refuses less than 600 seconds. */
  expirationSeconds?: number;
  /** Binds the token to a pod: it stops validating once that pod (name and uid) is gone. */
  boundPod?: { name: string; uid: string };
  /**
   * Binds the token to a Secret: TokenReview refuses it once that Secret (name
   * and uid) is deleted, which makes a token for an existing service account
   * revocable. Mutually exclusive with `boundPod` (one `boundObjectRef`).
   */
  boundSecret?: { name: string; uid: string };
}

/** A token issued by TokenRequest. */
export interface IssuedToken {
  token: string;
  /** RFC 3339. */
  expirationTimestamp: string;
}

export interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  verbs: string[];
  nonResourceURLs?: string[];
}

export interface RoleRef {
  apiGroup?: string;
  kind: "Role" | "ClusterRole";
  name: string;
}

export interface Subject {
  kind: "ServiceAccount" | "User" | "Group";
  name: string;
  namespace?: string;
  apiGroup?: string;
}

export interface Secret extends KubeObject {
  type?: string;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}

/** rbac.authorization.k8s.io/v1 Role or ClusterRole. */
export interface RbacRole extends KubeObject {
  rules: PolicyRule[];
}

/** rbac.authorization.k8s.io/v1 RoleBinding or ClusterRoleBinding. */
export interface RbacBinding extends KubeObject {
  roleRef: RoleRef;
  subjects?: Subject[];
}

/** authorization.k8s.io/v1 `resourceAttributes` of a (Self)SubjectAccessReview. */
export interface ResourceAttributes {
  namespace?: string;
  verb: string;
  group?: string;
  resource: string;
  subresource?: string;
  name?: string;
}

/** authorization.k8s.io/v1 SubjectAccessReview `status`. */
export interface AccessReviewStatus {
  allowed: boolean;
  denied?: boolean;
  reason?: string;
  evaluationError?: string;
}
