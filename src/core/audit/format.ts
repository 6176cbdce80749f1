import { hashQuoted, hashValues } from "./hash.js";
import type { AuditLine, AuditRequest, AuditResponse } from "./types.js";

type Hash = (value: string) => string;

const hashed = (value: string | undefined, hash: Hash) => (value === undefined || value === "" ? value : hash(value));
const hashedTree = (value: unknown, hash: Hash) => (value === undefined ? undefined : hashValues(value, hash));

/**
 * The request half of an audit line, Vault's field names: tokens, accessors,
 * metadata, every string and number in the data, and the quoted values in the
 * error message are HMACs under the device's salt.
 */
export function formatRequest(entry: AuditRequest, hash: Hash, time: string): AuditLine {
  const { auth, request } = entry;
  const clientToken = request.clientToken ?? auth?.clientToken ?? auth?.clientTokenKey;
  return {
    time: entry.time ?? time,
    type: "request",
    auth: auth && {
      client_token: hashed(auth.clientToken ?? auth.clientTokenKey, hash),
      accessor: hashed(auth.accessor, hash),
      display_name: auth.displayName,
      policies: auth.policies,
      metadata: hashedTree(auth.metadata, hash),
      token_type: auth.tokenType,
    },
    request: {
      id: request.id,
      operation: request.operation,
      mount_type: request.mountType,
      mount_point: request.mountPoint,
      client_token: hashed(clientToken, hash),
      client_token_accessor: hashed(request.clientTokenAccessor ?? auth?.accessor, hash),
      path: request.path,
      data: hashedTree(request.data, hash),
      remote_address: request.remoteAddress,
    },
    error: entry.error === undefined ? undefined : hashQuoted(entry.error, hash, new Set(Object.keys(request.data ?? {}))),
  };
}

export function formatResponse(entry: AuditResponse, hash: Hash, time: string): AuditLine {
  const { error, ...line } = formatRequest(entry, hash, time);
  const response = entry.response;
  const auth = response?.auth;
  return {
    ...line,
    type: "response",
    response: response && {
      data: hashedTree(response.data, hash),
      secret: response.secret && { lease_id: hash(response.secret.lease_id) },
      auth: auth && {
        client_token: hashed(auth.client_token, hash),
        accessor: hashed(auth.accessor, hash),
        policies: auth.policies,
        metadata: hashedTree(auth.metadata, hash),
        token_ttl: auth.lease_duration,
      },
      warnings: response.warnings,
    },
    error,
  };
}
