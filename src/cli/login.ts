import { parseKeyValues, trimSlashes } from "./args.js";
import type { ApiBody, LatchkeyClient } from "./client.js";
import { defineAction, printResponse, withOutput, type CommandGroup, type OutputOptions } from "./command.js";
import { saveToken, type CliContext } from "./context.js";
import { UsageError, attempt } from "./errors.js";
import { formatSecretTable, isRecord } from "./output.js";

interface LoginOptions extends OutputOptions {
  method: string;
  path?: string;
  store: boolean;
}

/** Checks a token with lookup-self and shapes the answer like a login response. */
async function loginWithToken(ctx: CliContext, api: LatchkeyClient, tokenArg: string | undefined): Promise<ApiBody> {
  const token =
    tokenArg === undefined || tokenArg === "-" ? await ctx.input.promptSecret("Token (will be hidden): ") : tokenArg;
  if (token === "") throw new UsageError("No token given");
  const lookup = await attempt("authenticating", () => api.request({ method: "GET", path: "auth/token/lookup-self", token }));
  const data = isRecord(lookup?.data) ? lookup.data : {};
  return {
    auth: {
      client_token: token,
      accessor: data.accessor,
      policies: data.policies,
      token_policies: data.policies,
      identity_policies: data.identity_policies,
      metadata: data.meta,
      lease_duration: data.ttl,
      renewable: data.renewable,
    },
  };
}

/** Logs in through an auth method mounted at `auth/<path>` with the given key=value data. */
async function loginWithMethod(ctx: CliContext, api: LatchkeyClient, mount: string, pairs: string[]): Promise<ApiBody> {
  const data = await parseKeyValues(pairs, ctx.input);
  // A login proves who the caller is; an older saved token has no part in it.
  const body = await attempt("authenticating", () => api.request({ method: "PUT", path: `auth/${mount}/login`, body: data, token: "" }));
  if (!body || !isRecord(body.auth) || typeof body.auth.client_token !== "string") {
    throw new Error(`the server returned no token for auth/${mount}/login`);
  }
  return body;
}

function withoutToken(body: ApiBody): ApiBody {
  if (!isRecord(body.auth)) return body;
  const { client_token: _token, ...auth } = body.auth;
  return { ...body, auth };
}

/** `login`: get a token (given, or from an auth method) and save it for later commands. */
export const registerLogin: CommandGroup = (program, ctx) => {
  const login = program
    .command("login")
    .description("authenticate and save the token in ~/.latchkey-token")
    .argument("[token-or-data...]", "a token (- or none: read it hidden), or key=value data for -method")
    .option("--method <type>", "auth method type", "token")
    .option("--path <path>", "where the auth method is mounted (default: the method type)")
    .option("--no-store", "do not save the token");
  defineAction<LoginOptions>(withOutput(login, ctx), ctx, async ({ args, opts, client }) => {
    const api = await client();
    let body: ApiBody;
    if (opts.method === "token") {
      if (args.length > 1) throw new UsageError("Too many arguments: login takes at most one token");
      body = await loginWithToken(ctx, api, args[0]);
    } else {
      body = await loginWithMethod(ctx, api, trimSlashes(opts.path ?? opts.method), args);
    }
    const token = isRecord(body.auth) && typeof body.auth.client_token === "string" ? body.auth.client_token : "";
    if (opts.store) {
      const file = ctx.tokenFile();
      await attempt(`saving the token to ${file}`, () => saveToken(file, token));
    }
    if (opts.field !== undefined) return printResponse(ctx, body, opts);
    if (opts.format !== "table") return printResponse(ctx, withoutToken(body), opts);
    ctx.out(
      opts.store
        ? `Success! You are now authenticated. The token is saved in ${ctx.tokenFile()} and later\ncommands use it (LATCHKEY_TOKEN, when set, takes precedence).\n\n`
        : "Success! You are now authenticated. The token was not saved; print it with -field=token.\n\n",
    );
    return printResponse(ctx, body, opts, (shown) => formatSecretTable(shown, { omitToken: true }));
  });
};
