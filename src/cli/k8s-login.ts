import { readFile } from "node:fs/promises";
import type { Command } from "commander";
import { ApiError, type ApiBody } from "./client.js";
import { defineAction } from "./command.js";
import { saveToken, type CliContext } from "./context.js";
import { UsageError, attempt } from "./errors.js";
import { gatewayClient, mountApiPath, withGateway, type GatewayOptions } from "./k8s-common.js";
import { asStringArray, formatStructured, isRecord } from "./output.js";

/** Where Kubernetes mounts a pod's service-account token. */
export const POD_TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount/token";

interface K8sLoginOptions extends GatewayOptions {
  accessId?: string;
  accessType?: string;
  k8sAuthConfigName?: string;
  k8sTokenPath: string;
  store?: boolean;
}

/** The server never echoes a JWT, but an error passes through this process's output: strip it anyway. */
function withoutJwt(err: unknown, jwt: string): unknown {
  if (!(err instanceof ApiError)) return err;
  const strip = (text: string) => text.split(jwt).join("<redacted>");
  return new ApiError(err.method, err.url, err.status, err.errors.map(strip), strip(err.raw));
}

async function readPodToken(path: string): Promise<string> {
  const jwt = (await attempt(`reading the service account token ${path}`, () => readFile(path, "utf8"))).trim();
  if (jwt === "") throw new Error(`The service account token file ${path} is empty`);
  return jwt;
}

/** What `--json` prints: the token and what it is worth, never the JWT it was traded for. */
function loginSummary(auth: Record<string, unknown>, now: number): Record<string, unknown> {
  const ttl = typeof auth.lease_duration === "number" ? auth.lease_duration : 0;
  return {
    token: auth.client_token,
    accessor: auth.accessor,
    policies: asStringArray(auth.token_policies ?? auth.policies),
    ttl,
    // A lease of 0 never expires.
    expiry: ttl > 0 ? new Date(now + ttl * 1000).toISOString() : null,
    renewable: auth.renewable,
    metadata: auth.metadata,
  };
}

/**
 * `auth --access-type k8s --access-id ID --k8s-auth-config-name NAME`: reads
 * the pod's service-account token and logs in through the access id's gateway
 * config, which verifies the token with the cluster and signs the login. The
 * `auth` group keeps its subcommands (enable, disable, list); this is its
 * own action.
 */
export function attachK8sLogin(auth: Command, ctx: CliContext): void {
  withGateway(auth)
    .option("--access-id <id>", "access id of the kubernetes auth method")
    .option("--access-type <type>", "how to authenticate: k8s")
    .option("--k8s-auth-config-name <name>", "the gateway config that verifies and signs the login")
    .option("--k8s-token-path <path>", "the pod's service-account token", POD_TOKEN_PATH)
    .option("--store", "also save the token in ~/.latchkey-token, as login does");
  // Commander lets a group's options appear after its subcommand (`auth list --json`) and
  // keeps them for the group: refuse them there rather than ignore them.
  auth.hook("preSubcommand", (group, subcommand) => {
    const misplaced = group.options.find((option) => group.getOptionValueSource(option.attributeName()) === "cli");
    if (misplaced) group.error(`error: ${misplaced.long ?? misplaced.flags} is an option of auth --access-type k8s, not of auth ${subcommand.name()}`);
  });
  defineAction<K8sLoginOptions>(auth, ctx, async ({ opts }) => {
    if (opts.accessType === undefined && opts.accessId === undefined) {
      auth.outputHelp({ error: true });
      return 2;
    }
    if (opts.accessType !== "k8s") {
      throw new UsageError(
        `--access-type ${opts.accessType ?? "(none)"} is not supported: give --access-type k8s (other methods: latchkey login -method=<type>)`,
      );
    }
    if (opts.accessId === undefined) throw new UsageError("--access-type k8s needs --access-id");
    if (opts.k8sAuthConfigName === undefined) throw new UsageError("--access-type k8s needs --k8s-auth-config-name");
    const jwt = await readPodToken(opts.k8sTokenPath);
    const api = await gatewayClient(ctx, opts);
    const body = { access_id: opts.accessId, config: opts.k8sAuthConfigName, jwt };
    // A login proves who the caller is; a saved token has no part in it.
    const answer: ApiBody | undefined = await attempt("authenticating", () =>
      api.request({ method: "POST", path: mountApiPath(opts, "login"), body, token: "" }).catch((err: unknown) => {
        throw withoutJwt(err, jwt);
      }),
    );
    const authBlock = answer && isRecord(answer.auth) ? answer.auth : {};
    const token = authBlock.client_token;
    if (typeof token !== "string") throw new Error(`the server returned no token for ${mountApiPath(opts, "login")}`);
    if (opts.store) {
      const file = ctx.tokenFile();
      await attempt(`saving the token to ${file}`, () => saveToken(file, token));
    }
    if (opts.json) {
      ctx.out(formatStructured(loginSummary(authBlock, Date.now()), "json"));
      return 0;
    }
    ctx.out(`Authentication succeeded.\nToken: ${token}\n`);
    return 0;
  });
}
