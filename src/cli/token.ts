import { Option } from "commander";
import { collectList, collectPairs, parseCount } from "./args.js";
import type { ApiRequest } from "./client.js";
import { defineAction, printResponse, success, withOutput, type CommandGroup, type OutputOptions } from "./command.js";
import { UsageError, attempt } from "./errors.js";

interface CreateOptions extends OutputOptions {
  policy?: string[];
  ttl?: string;
  explicitMaxTtl?: string;
  period?: string;
  useLimit?: number;
  orphan?: boolean;
  type?: "service" | "batch";
  metadata?: Record<string, string>;
  displayName?: string;
}

/** The auth/token/create body: only what was asked for, so the server's defaults apply otherwise. */
export function tokenCreateBody(opts: CreateOptions): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  if (opts.policy !== undefined) body.policies = opts.policy;
  if (opts.ttl !== undefined) body.ttl = opts.ttl;
  if (opts.explicitMaxTtl !== undefined) body.explicit_max_ttl = opts.explicitMaxTtl;
  if (opts.period !== undefined) body.period = opts.period;
  if (opts.useLimit !== undefined) body.num_uses = opts.useLimit;
  if (opts.orphan) body.no_parent = true;
  if (opts.type !== undefined) body.type = opts.type;
  if (opts.metadata !== undefined) body.meta = opts.metadata;
  if (opts.displayName !== undefined) body.display_name = opts.displayName;
  return body;
}

/**
 * Which endpoint a token subcommand calls: `-self` or no argument means the
 * caller's own token, `-accessor` means the argument is an accessor.
 */
function target(
  verb: "lookup" | "renew" | "revoke",
  arg: string | undefined,
  opts: { accessor?: boolean; self?: boolean },
  extra: Record<string, unknown> = {},
): ApiRequest {
  if (opts.self && (arg !== undefined || opts.accessor)) throw new UsageError("-self takes no token or -accessor");
  if (opts.accessor) {
    if (arg === undefined) throw new UsageError("-accessor needs the accessor as argument");
    return { method: "PUT", path: `auth/token/${verb}-accessor`, body: { accessor: arg, ...extra } };
  }
  if (arg === undefined || opts.self) {
    return verb === "lookup" ? { method: "GET", path: "auth/token/lookup-self" } : { method: "PUT", path: `auth/token/${verb}-self`, body: extra };
  }
  return { method: "PUT", path: `auth/token/${verb}`, body: { token: arg, ...extra } };
}

/** `token create|lookup|renew|revoke`. */
export const registerToken: CommandGroup = (program, ctx) => {
  const token = program.command("token").description("create, look up, renew and revoke tokens");

  const create = token
    .command("create")
    .description("create a token, by default a child of the calling token")
    .option("--policy <name>", "policy to attach (repeatable, or comma separated)", collectList)
    .option("--ttl <duration>", "initial time to live, e.g. 30m or 1h")
    .option("--explicit-max-ttl <duration>", "hard limit on the lifetime, renewals included")
    .option("--period <duration>", "make a periodic token renewed by this period without a maximum")
    .option("--use-limit <n>", "number of uses before the token is revoked (0: unlimited)", parseCount)
    .option("--orphan", "create the token without a parent: it survives the revocation of its creator")
    .addOption(new Option("--type <type>", "token type").choices(["service", "batch"]))
    .option("--metadata <key=value>", "metadata to attach (repeatable)", collectPairs)
    .option("--display-name <name>", "name shown with the token");
  defineAction<CreateOptions>(withOutput(create, ctx), ctx, async ({ opts, client }) => {
    const api = await client();
    const body = await attempt("creating token", () => api.request({ method: "PUT", path: "auth/token/create", body: tokenCreateBody(opts) }));
    return printResponse(ctx, body ?? {}, opts);
  });

  const lookup = token
    .command("lookup")
    .description("show a token's properties (default: the calling token)")
    .argument("[token]")
    .option("--accessor", "the argument is a token accessor");
  defineAction<OutputOptions & { accessor?: boolean }>(withOutput(lookup, ctx), ctx, async ({ args: [arg], opts, client }) => {
    const api = await client();
    const body = await attempt("looking up token", () => api.request(target("lookup", arg, opts)));
    return printResponse(ctx, body ?? {}, opts);
  });

  const renew = token
    .command("renew")
    .description("extend a token's lifetime (default: the calling token)")
    .argument("[token]")
    .option("--accessor", "the argument is a token accessor")
    .option("--increment <duration>", "requested extension, e.g. 1h");
  defineAction<OutputOptions & { accessor?: boolean; increment?: string }>(
    withOutput(renew, ctx),
    ctx,
    async ({ args: [arg], opts, client }) => {
      const extra = opts.increment === undefined ? {} : { increment: opts.increment };
      const api = await client();
      const body = await attempt("renewing token", () => api.request(target("renew", arg, opts, extra)));
      return printResponse(ctx, body ?? {}, opts);
    },
  );

  const revoke = token
    .command("revoke")
    .description("revoke a token and its children")
    .argument("[token]")
    .option("--accessor", "the argument is a token accessor")
    .option("--self", "revoke the calling token");
  defineAction<{ accessor?: boolean; self?: boolean }>(revoke, ctx, async ({ args: [arg], opts, client }) => {
    if (arg === undefined && !opts.self) throw new UsageError("Give a token, -accessor <accessor>, or -self");
    const api = await client();
    await attempt("revoking token", () => api.request(target("revoke", arg, opts)));
    return success(ctx, "Revoked token (if it existed)");
  });
};
