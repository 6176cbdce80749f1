import type { StorageView } from "../storage/types.js";
import { badRequest } from "./errors.js";
import { RESPONSE_WRAPPING_POLICY_NAME } from "./policy/builtin.js";
import { parseDuration } from "./tokens/duration.js";
import { MAX_TOKEN_TTL } from "./tokens/store.js";
import type { TokenAuthResult, TokenStore } from "./tokens/types.js";

/** Vault's `wrap_info` block: what a client gets instead of the response it asked to have wrapped. */
export interface WrapInfo {
  token: string;
  accessor: string;
  /** Seconds. */
  ttl: number;
  /** RFC 3339. */
  creation_time: string;
  creation_path: string;
  /** The accessor of the token inside, when the wrapped response hands one out (a login, a token create). */
  wrapped_accessor?: string;
}

/** The response as the client would have received it, kept until it is unwrapped. */
export interface WrappedResponse {
  data: Record<string, unknown> | null;
  auth: TokenAuthResult | null;
  lease_id: string;
  renewable: boolean;
  lease_duration: number;
  warnings: string[] | null;
}

interface StoredWrap {
  response: WrappedResponse;
  creationPath: string;
  creationTime: string;
  ttl: number;
}

/** The largest wrapping TTL: a wrapping token is a token, bounded like any other. */
const MAX_WRAP_TTL = MAX_TOKEN_TTL;

export const invalidWrappingToken = () =>
  badRequest("wrapping token is not valid or does not exist", "LK_ERR_INVALID_WRAPPING_TOKEN");

/** The seconds of an `X-Vault-Wrap-TTL` header ("5m", "300"); 400 naming the header otherwise. */
export function parseWrapTtl(header: string): number {
  const ttl = parseDuration(header, "X-Vault-Wrap-TTL");
  if (ttl <= 0 || ttl > MAX_WRAP_TTL) {
    throw badRequest(`header "X-Vault-Wrap-TTL" must be a duration between 1s and ${MAX_WRAP_TTL / 3600}h`);
  }
  return ttl;
}

/**
 * Response wrapping. The response is stored under the keyed hash of a fresh
 * single-purpose token whose only policy lets it unwrap; unwrapping takes the
 * response and revokes the token in one step, so a wrapped response is handed
 * out at most once (a second unwrap, or a rewrap after it, finds nothing).
 */
export function createWrapping(deps: {
  storage: StorageView;
  tokens: Pick<TokenStore, "create" | "revokeTree" | "lookupByKey" | "keyOf">;
  now?: () => number;
}) {
  const { storage, tokens } = deps;
  const now = deps.now ?? Date.now;
  const entryKey = (tokenKey: string) => `response/${tokenKey}`;

  async function store(entry: StoredWrap, wrappedAccessor: string | undefined): Promise<WrapInfo> {
    const { token, entry: tokenEntry } = await tokens.create({
      policies: [RESPONSE_WRAPPING_POLICY_NAME],
      noDefaultPolicy: true,
      noParent: true,
      ttl: entry.ttl,
      renewable: false,
      displayName: "response-wrapping",
      path: "sys/wrapping/wrap",
    });
    await storage.putJSON(entryKey(tokenEntry.key), entry);
    return {
      token,
      accessor: tokenEntry.accessor,
      ttl: entry.ttl,
      creation_time: entry.creationTime,
      creation_path: entry.creationPath,
      ...(wrappedAccessor && { wrapped_accessor: wrappedAccessor }),
    };
  }

  /** Takes the wrapped entry of a live wrapping token out of storage, atomically; then revokes the token. */
  async function take(tokenKey: string): Promise<StoredWrap> {
    if (!(await tokens.lookupByKey(tokenKey))) throw invalidWrappingToken();
    const entry = await storage.transaction(async (tx) => {
      const found = await tx.getJSON<StoredWrap>(entryKey(tokenKey));
      if (found) await tx.delete(entryKey(tokenKey));
      return found;
    });
    if (!entry) throw invalidWrappingToken();
    await tokens.revokeTree(tokenKey);
    return entry;
  }

  return {
    /** Wraps `response` for `ttl` seconds; `path` is the request path that produced it. */
    wrap(response: WrappedResponse, path: string, ttl: number): Promise<WrapInfo> {
      return store({ response, creationPath: path, creationTime: new Date(now()).toISOString(), ttl }, response.auth?.accessor);
    },
    /** The wrapped response, once; the wrapping token is gone afterwards. */
    async unwrap(tokenKey: string): Promise<WrappedResponse> {
      return (await take(tokenKey)).response;
    },
    /** What a wrapping token holds, without using it (Vault's sys/wrapping/lookup). */
    async lookup(tokenKey: string): Promise<{ creation_path: string; creation_time: string; creation_ttl: number }> {
      const entry = (await tokens.lookupByKey(tokenKey)) && (await storage.getJSON<StoredWrap>(entryKey(tokenKey)));
      if (!entry) throw invalidWrappingToken();
      return { creation_path: entry.creationPath, creation_time: entry.creationTime, creation_ttl: entry.ttl };
    },
    /** Moves the response to a new wrapping token with the same TTL; the old one is revoked. */
    async rewrap(tokenKey: string): Promise<WrapInfo> {
      const entry = await take(tokenKey);
      return store({ ...entry, creationTime: new Date(now()).toISOString() }, entry.response.auth?.accessor);
    },
    /** Drops what a revoked token wrapped; called when any token is revoked, so most have nothing to drop (a read, no write). */
    async forget(tokenKey: string) {
      if (await storage.get(entryKey(tokenKey))) await storage.delete(entryKey(tokenKey));
    },
    keyOf: (token: string) => tokens.keyOf(token),
  };
}

export type Wrapping = ReturnType<typeof createWrapping>;
