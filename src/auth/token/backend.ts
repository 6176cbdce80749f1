import { badRequest, permissionDenied } from "../../core/errors.js";
import { parseDuration } from "../../core/tokens/duration.js";
import { BATCH_PREFIX } from "../../core/tokens/crypto.js";
import { remainingTtl, toAuthResult } from "../../core/tokens/store.js";
import type { Backend, FieldSchema, PathDef, TokenEntry } from "../../core/types.js";
import type { StorageView } from "../../storage/types.js";
import { CREATE_FIELDS, tokenCreator, type TokenCreatorDeps, type TokenResponse } from "./create.js";
import { callerOf, requiredString } from "./input.js";
import { getRole, roleName, rolePaths } from "./roles.js";

export type TokenBackendDeps = TokenCreatorDeps;

const batchNotRevocable = () => badRequest("batch tokens cannot be revoked");

const TOKEN_FIELD: Record<string, FieldSchema> = { token: { type: "string", required: true, description: "The token" } };
const ACCESSOR_FIELD: Record<string, FieldSchema> = {
  accessor: { type: "string", required: true, description: "Accessor of the token" },
};
const INCREMENT_FIELD: Record<string, FieldSchema> = {
  increment: { type: "duration", description: "Requested extension; may be capped" },
};

/** The `auth/token/` mount: Vault's token auth method API over the token store. */
export function createTokenBackend(deps: TokenBackendDeps): Backend {
  const { tokens } = deps;
  const badToken = () => permissionDenied("bad token");

  const create = tokenCreator(deps);

  async function lookupToken(token: string): Promise<TokenEntry> {
    const entry = await tokens.lookup(token);
    if (!entry) throw badToken();
    return entry;
  }

  async function lookupAccessor(accessor: string): Promise<TokenEntry> {
    const entry = await tokens.lookupByAccessor(accessor);
    if (!entry) throw badRequest("invalid accessor");
    return entry;
  }

  const lookupResponse = (entry: TokenEntry, id: string): TokenResponse => ({
    data: lookupData(entry, id, tokens.nowSeconds()),
  });

  async function renew(
    entry: TokenEntry,
    clientToken: string,
    increment: unknown,
    storage: StorageView,
  ): Promise<TokenResponse> {
    // Vault: a token created through a role renews only while that role exists.
    if (entry.role !== undefined && !(await getRole(storage, entry.role))) {
      throw badRequest(`original token role ${JSON.stringify(entry.role)} could not be found, not renewing`);
    }
    const renewed = await tokens.renew(entry, parseDuration(increment, "increment"));
    return { authResult: toAuthResult(clientToken, renewed, tokens.nowSeconds()) };
  }

  function revocable(token: string): string {
    if (token.startsWith(BATCH_PREFIX)) throw batchNotRevocable();
    return tokens.keyOf(token);
  }

  const paths: PathDef[] = [
    {
      pattern: "create",
      fields: CREATE_FIELDS,
      ops: { update: (req) => create(req, { orphan: false }) },
      help: "Create a child token of the calling token.",
    },
    {
      // Vault: not a sudo path; whoever may write it creates orphans, still within the policy rules.
      pattern: "create-orphan",
      fields: CREATE_FIELDS,
      ops: { update: (req) => create(req, { orphan: true }) },
      help: "Create a token without a parent.",
    },
    {
      pattern: "create/:role_name",
      fields: CREATE_FIELDS,
      ops: {
        update: async (req) => {
          const name = roleName(req.params.role_name);
          const role = await getRole(req.storage, name);
          if (!role) throw badRequest(`unknown role ${name}`, "LK_ERR_ROLE_NOT_FOUND");
          return create(req, { orphan: false, role });
        },
      },
      help: "Create a token under a token role's rules.",
    },
    ...rolePaths(),
    {
      pattern: "lookup",
      fields: TOKEN_FIELD,
      ops: {
        update: async (req) => {
          const token = requiredString(req.data.token, "token");
          // The caller supplied the token, so echoing it as `id` (as Vault does) discloses nothing.
          return lookupResponse(await lookupToken(token), token);
        },
      },
    },
    {
      pattern: "lookup-self",
      needsClientToken: true,
      ops: {
        read: async (req) => lookupResponse(callerOf(req), req.clientToken ?? ""),
        update: async (req) => lookupResponse(callerOf(req), req.clientToken ?? ""),
      },
    },
    {
      pattern: "lookup-accessor",
      fields: ACCESSOR_FIELD,
      ops: {
        update: async (req) => lookupResponse(await lookupAccessor(requiredString(req.data.accessor, "accessor")), ""),
      },
    },
    {
      pattern: "renew",
      fields: { ...TOKEN_FIELD, ...INCREMENT_FIELD },
      ops: {
        update: async (req) => {
          const token = requiredString(req.data.token, "token");
          return renew(await lookupToken(token), token, req.data.increment, req.storage);
        },
      },
    },
    {
      pattern: "renew-self",
      fields: INCREMENT_FIELD,
      needsClientToken: true,
      ops: { update: async (req) => renew(callerOf(req), req.clientToken ?? "", req.data.increment, req.storage) },
    },
    {
      pattern: "renew-accessor",
      fields: { ...ACCESSOR_FIELD, ...INCREMENT_FIELD },
      ops: {
        update: async (req) =>
          renew(await lookupAccessor(requiredString(req.data.accessor, "accessor")), "", req.data.increment, req.storage),
      },
    },
    {
      pattern: "revoke",
      fields: TOKEN_FIELD,
      ops: {
        update: async (req) => {
          await tokens.revokeTree(revocable(requiredString(req.data.token, "token")));
          return undefined;
        },
      },
    },
    {
      pattern: "revoke-self",
      needsClientToken: true,
      ops: {
        update: async (req) => {
          const caller = callerOf(req);
          if (caller.type === "batch") throw batchNotRevocable();
          await tokens.revokeTree(caller.key);
          return undefined;
        },
      },
    },
    {
      pattern: "revoke-orphan",
      fields: TOKEN_FIELD,
      sudo: true,
      ops: {
        update: async (req) => {
          await tokens.revokeOrphan(revocable(requiredString(req.data.token, "token")));
          return undefined;
        },
      },
    },
    {
      pattern: "revoke-accessor",
      fields: ACCESSOR_FIELD,
      ops: {
        update: async (req) => {
          if (!(await tokens.revokeAccessor(requiredString(req.data.accessor, "accessor")))) {
            throw badRequest("invalid accessor");
          }
          return undefined;
        },
      },
    },
    {
      pattern: "accessors",
      sudo: true,
      ops: { list: async () => ({ data: { keys: await tokens.listAccessors() } }) },
    },
  ];

  return {
    paths,
    // Vault: a token's lease is renewed through auth/token/renew*, which also moves the token's own expiry.
    async renew() {
      throw badRequest("tokens cannot be renewed through this endpoint");
    },
  };
}

/** Vault's token lookup `data`. `id` is the token itself where the caller already holds it, else "". */
export function lookupData(entry: TokenEntry, id: string, nowSeconds: number): Record<string, unknown> {
  return {
    accessor: entry.accessor,
    creation_time: entry.creationTime,
    creation_ttl: entry.ttl,
    display_name: entry.displayName,
    entity_id: entry.entityId ?? "",
    expire_time: entry.expireTime === 0 ? null : rfc3339(entry.expireTime),
    explicit_max_ttl: entry.explicitMaxTtl,
    id,
    issue_time: rfc3339(entry.creationTime),
    meta: Object.keys(entry.metadata).length > 0 ? { ...entry.metadata } : null,
    num_uses: Math.max(0, entry.numUses),
    orphan: entry.orphan,
    path: entry.path,
    policies: [...entry.policies],
    renewable: entry.renewable,
    ttl: remainingTtl(entry, nowSeconds),
    type: entry.type,
    ...(entry.role !== undefined && { role: entry.role }),
    ...(entry.period > 0 && { period: entry.period }),
    ...(entry.boundCidrs?.length && { bound_cidrs: [...entry.boundCidrs] }),
  };
}

/**
 * A Unix time in seconds as RFC 3339. A token's times do not change between
 * lookups, and formatting them (a Date and toISOString, twice) was a third of
 * a token lookup's time in the core: the last 1,024 times formatted are kept.
 */
const formatted = new Map<number, string>();
function rfc3339(unixSeconds: number): string {
  let text = formatted.get(unixSeconds);
  if (text === undefined) {
    if (formatted.size >= 1024) formatted.clear();
    text = new Date(unixSeconds * 1000).toISOString();
    formatted.set(unixSeconds, text);
  }
  return text;
}
