import { badRequest } from "../errors.js";
import type { TokenAuthResult } from "../tokens/types.js";
import type { LogicalRequest, LogicalResponse, PathDef } from "../types.js";
import type { Wrapping, WrappedResponse } from "../wrapping.js";

const tokenField = { token: { type: "string" as const, description: "The wrapping token; default: the client token" } };

/** The wrapping token a request names: the `token` field, else the client token itself. */
function wrappingKey(req: LogicalRequest, wrapping: Wrapping): string {
  const token = typeof req.data.token === "string" ? req.data.token.trim() : "";
  if (token !== "") return wrapping.keyOf(token);
  if (req.auth) return req.auth.key;
  if (req.clientToken) return wrapping.keyOf(req.clientToken);
  throw badRequest('missing required field "token"');
}

/** An unwrapped response, answered as the response it was. */
function asResponse(wrapped: WrappedResponse): LogicalResponse & { authResult?: TokenAuthResult } {
  return {
    ...(wrapped.data !== null && { data: wrapped.data }),
    ...(wrapped.auth !== null && { authResult: wrapped.auth }),
    ...(wrapped.lease_id !== "" && {
      leaseInfo: { leaseId: wrapped.lease_id, renewable: wrapped.renewable, ttl: wrapped.lease_duration },
    }),
    ...(wrapped.warnings !== null && { warnings: wrapped.warnings }),
  };
}

/** sys/wrapping/wrap, unwrap, lookup, rewrap: Vault's response-wrapping endpoints. */
export function wrappingPaths(core: { readonly services: { wrapping: Wrapping } }): PathDef[] {
  return [
    {
      pattern: "wrapping/wrap",
      ops: {
        // The core wraps whatever the handler answers; here that is the caller's own data.
        update: async (req) => {
          if (req.wrapTtl === undefined) throw badRequest('sys/wrapping/wrap needs a wrapping TTL: set the "X-Vault-Wrap-TTL" header');
          return { data: { ...req.data } };
        },
      },
    },
    {
      pattern: "wrapping/unwrap",
      fields: tokenField,
      ops: { update: async (req) => asResponse(await core.services.wrapping.unwrap(wrappingKey(req, core.services.wrapping))) },
    },
    {
      pattern: "wrapping/lookup",
      // Vault answers lookups without authenticating: the wrapping token, in the body or as the client token, is the credential.
      unauthenticated: true,
      needsClientToken: true,
      fields: tokenField,
      ops: {
        update: async (req) => ({ data: await core.services.wrapping.lookup(wrappingKey(req, core.services.wrapping)) }),
      },
    },
    {
      pattern: "wrapping/rewrap",
      fields: tokenField,
      ops: {
        update: async (req) => ({ wrapInfo: await core.services.wrapping.rewrap(wrappingKey(req, core.services.wrapping)) }),
      },
    },
  ];
}
