/**
 * The signed login assertion of an access id: what the signing half (the
 * component holding a gateway config and cluster access) says it verified,
 * and what the verifying half (holding only the access id's public key)
 * checks before any token is issued. Shared by both halves; neither imports
 * the other.
 *
 * Compact JWS, header `{alg: ES256|RS256, typ, kid: <access id>}`, claims:
 * `iss` = ASSERTION_ISSUER, `aud` = the access id, `sub` = the service
 * account's username, `iat`, `exp` = iat + the config's `token_exp`, `jti`,
 * `config_name`, `kubernetes.io` = `{namespace, serviceaccount: {name, uid},
 * pod?: {name, uid}, secret?: {name}}`, `k8s_aud` (the audiences the cluster
 * confirmed) and, when asked for, `namespace_labels`.
 */
export const ASSERTION_TYPE = "latchkey-k8s-assertion+jwt";
export const ASSERTION_ISSUER = "latchkey-k8s-gateway";
/** The verifier refuses assertions meant to live longer than this, whatever they say. */
export const MAX_ASSERTION_SECONDS = 3600;
