/**
 * The one error hierarchy of latchkey. Handlers throw these; the HTTP layer maps
 * `status` to the response code and `message` to Vault's `{"errors": [message]}`.
 * Messages are shown to clients, so they must never contain secret material.
 */
export class LatchkeyError extends Error {
    code;
    status;
    constructor(code, status, message, options) {
        super(message, options);
        this.code = code;
        this.status = status;
        this.name = "LatchkeyError";
    }
}
/** 400: the client's input is wrong; the message names the field. */
export const badRequest = (message, code = "LK_ERR_BAD_REQUEST") => new LatchkeyError(code, 400, message);
/**
 * 403: every authentication or authorization failure. The reason is short and
 * non-sensitive ("namespace not authorized"); details belong in debug logs.
 */
export const permissionDenied = (reason) => new LatchkeyError("LK_ERR_PERMISSION_DENIED", 403, reason ? `permission denied: ${reason}` : "permission denied");
export const notFound = (message = "unsupported path") => new LatchkeyError("LK_ERR_NOT_FOUND", 404, message);
export const unsupportedOperation = (message = "unsupported operation") => new LatchkeyError("LK_ERR_UNSUPPORTED_OPERATION", 405, message);
export const tooLarge = (message = "request body too large") => new LatchkeyError("LK_ERR_TOO_LARGE", 413, message);
export const sealed = () => new LatchkeyError("LK_ERR_SEALED", 503, "latchkey is sealed");
/** 502/503/504: an upstream (Kubernetes API, database) failed; the message names it. */
export const upstreamError = (status, message, cause) => new LatchkeyError("LK_ERR_UPSTREAM", status, message, { cause });
/** 500: a bug or broken invariant on our side; never used for a client's mistake. */
export const internalError = (message, cause) => new LatchkeyError("LK_ERR_INTERNAL", 500, message, { cause });
