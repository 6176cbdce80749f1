import { hashStrings } from "./hash.js";
const hashed = (value, hash) => (value === undefined || value === "" ? value : hash(value));
const hashedTree = (value, hash) => (value === undefined ? undefined : hashStrings(value, hash));
/**
 * The request half of an audit line, Vault's field names: tokens, accessors,
 * metadata and every string in the data are HMACs under the device's salt.
 */
export function formatRequest(entry, hash, time) {
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
        error: entry.error,
    };
}
export function formatResponse(entry, hash, time) {
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
