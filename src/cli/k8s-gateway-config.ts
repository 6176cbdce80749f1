import { Option, type Command } from "commander";
import { parseCount } from "./args.js";
import { defineAction, printKeys, type CommandGroup } from "./command.js";
import type { CliContext } from "./context.js";
import { UsageError, attempt } from "./errors.js";
import { gatewayClient, mountApiPath, plainName, reportDone, showData, valueOrFile, withGateway, type GatewayOptions } from "./k8s-common.js";

interface NameOptions extends GatewayOptions {
  name: string;
}

export interface GatewayConfigOptions extends NameOptions {
  accessId: string;
  signingKey: string;
  useGwServiceAccount?: boolean;
  tokenReviewerJwt?: string;
  k8sHost?: string;
  k8sCaCert?: string;
  k8sAuthType: "token" | "certificate";
  k8sClientCertificate?: string;
  k8sClientKey?: string;
  k8sIssuer?: string;
  disableIssuerValidation?: boolean;
  tokenExp?: number;
}

/**
 * Which identity reviews tokens: the server's own service account
 * (`--use-gw-service-account`: no reviewer credentials are sent, the server
 * uses its token file and, in a pod, its in-cluster address), a reviewer JWT,
 * or a client certificate. Exactly one.
 */
function reviewerFields(opts: GatewayConfigOptions): Record<string, string | undefined> {
  const hasClientPair = opts.k8sClientCertificate !== undefined || opts.k8sClientKey !== undefined;
  if (opts.k8sAuthType === "certificate") {
    if (opts.useGwServiceAccount || opts.tokenReviewerJwt !== undefined) {
      throw new UsageError("--k8s-auth-type certificate excludes --use-gw-service-account and --token-reviewer-jwt");
    }
    if (opts.k8sClientCertificate === undefined || opts.k8sClientKey === undefined) {
      throw new UsageError("--k8s-auth-type certificate needs --k8s-client-certificate and --k8s-client-key");
    }
    return { client_cert: opts.k8sClientCertificate, client_key: opts.k8sClientKey };
  }
  if (hasClientPair) throw new UsageError("--k8s-client-certificate and --k8s-client-key need --k8s-auth-type certificate");
  if (opts.useGwServiceAccount && opts.tokenReviewerJwt !== undefined) {
    throw new UsageError("--use-gw-service-account and --token-reviewer-jwt exclude each other");
  }
  if (!opts.useGwServiceAccount && opts.tokenReviewerJwt === undefined) {
    throw new UsageError(
      "Give the reviewer identity: --use-gw-service-account, --token-reviewer-jwt, or --k8s-auth-type certificate",
    );
  }
  return { token_reviewer_jwt: opts.tokenReviewerJwt };
}

/**
 * The `auth/<mount>/config/<name>` body. An issuer given is checked unless
 * `--disable-issuer-validation`; without one the server's default (no issuer
 * check) applies.
 */
export function gatewayConfigBody(opts: GatewayConfigOptions): Record<string, unknown> {
  const body: Record<string, unknown> = { access_id: opts.accessId, signing_key: opts.signingKey };
  const fields: Record<string, unknown> = {
    ...reviewerFields(opts),
    kubernetes_host: opts.k8sHost,
    kubernetes_ca_cert: opts.k8sCaCert,
    issuer: opts.k8sIssuer,
    disable_iss_validation: opts.disableIssuerValidation ? true : opts.k8sIssuer !== undefined ? false : undefined,
    token_exp: opts.tokenExp,
  };
  for (const [key, value] of Object.entries(fields)) if (value !== undefined) body[key] = value;
  return body;
}

/** Resolves `@file` values of the flags that carry keys, certificates and JWTs. */
async function withFileValues(ctx: CliContext, opts: GatewayConfigOptions): Promise<GatewayConfigOptions> {
  return {
    ...opts,
    signingKey: (await valueOrFile(ctx, opts.signingKey)) ?? "",
    tokenReviewerJwt: await valueOrFile(ctx, opts.tokenReviewerJwt),
    k8sCaCert: await valueOrFile(ctx, opts.k8sCaCert),
    k8sClientCertificate: await valueOrFile(ctx, opts.k8sClientCertificate),
    k8sClientKey: await valueOrFile(ctx, opts.k8sClientKey),
  };
}

const MATERIAL = "(or @file)";

function configOptions(command: Command): Command {
  return command
    .requiredOption("-n, --name <name>", "name of the config (given at login as --k8s-auth-config-name)")
    .requiredOption("--access-id <id>", "access id of the auth method (from auth-method create k8s)")
    .requiredOption("--signing-key <key>", `the access id's private key, base64 or PEM ${MATERIAL}`)
    .option("--use-gw-service-account", "review tokens with the server's own service account and in-cluster address")
    .option("--token-reviewer-jwt <jwt>", `JWT of a service account bound to system:auth-delegator ${MATERIAL}`)
    .option("--k8s-host <url>", "URL of the Kubernetes API server")
    .option("--k8s-ca-cert <cert>", `CA certificate of the API server, base64 or PEM ${MATERIAL}`)
    .addOption(new Option("--k8s-auth-type <type>", "how latchkey authenticates to the API server").choices(["token", "certificate"]).default("token"))
    .option("--k8s-client-certificate <cert>", `client certificate, base64 or PEM ${MATERIAL}`)
    .option("--k8s-client-key <key>", `key of the client certificate, base64 or PEM ${MATERIAL}`)
    .option("--k8s-issuer <issuer>", "issuer (iss) of the cluster's service-account tokens; checked when given")
    .option("--disable-issuer-validation", "do not check the issuer even when --k8s-issuer is given")
    .option("--token-exp <seconds>", "lifetime of the signed login assertions (default 300)", parseCount);
}

/** `gateway-create-k8s-auth-config` and `gateway-update-k8s-auth-config`: one writes only a new name, the other only an existing one. */
function registerWrite(program: Command, ctx: CliContext, verb: "create" | "update"): void {
  const command = program
    .command(`gateway-${verb}-k8s-auth-config`)
    .description(
      verb === "create"
        ? "create a named cluster config that signs the logins of an access id"
        : "replace a named cluster config (every setting, as create)",
    );
  defineAction<GatewayConfigOptions>(withGateway(configOptions(command)), ctx, async ({ opts }) => {
    const name = plainName(opts.name, "--name");
    const body = gatewayConfigBody(await withFileValues(ctx, opts));
    const path = mountApiPath(opts, `config/${name}`);
    const api = await gatewayClient(ctx, opts);
    const existing = await attempt(`reading k8s auth config ${name}`, () => api.read(path));
    if (verb === "create" && existing) {
      throw new Error(`The k8s auth config ${name} already exists; replace it with gateway-update-k8s-auth-config`);
    }
    if (verb === "update" && !existing) {
      throw new Error(`No k8s auth config named ${name}; create it with gateway-create-k8s-auth-config`);
    }
    await attempt(`writing k8s auth config ${name}`, () => api.request({ method: "POST", path, body }));
    return reportDone(ctx, opts, `${verb === "create" ? "Created" : "Updated"} k8s auth config ${name} at ${path}`, { name, path });
  });
}

/** `gateway-{create,update,get,delete}-k8s-auth-config`, `gateway-list-k8s-auth-configs`: named cluster configs. */
export const registerK8sGatewayConfig: CommandGroup = (program, ctx) => {
  registerWrite(program, ctx, "create");
  registerWrite(program, ctx, "update");

  const get = program
    .command("gateway-get-k8s-auth-config")
    .description("show a named cluster config (keys and JWTs are never returned)")
    .requiredOption("-n, --name <name>", "name of the config");
  defineAction<NameOptions>(withGateway(get), ctx, async ({ opts }) => {
    const name = plainName(opts.name, "--name");
    return showData(ctx, opts, mountApiPath(opts, `config/${name}`), `reading k8s auth config ${name}`);
  });

  const list = program.command("gateway-list-k8s-auth-configs").description("list the named cluster configs");
  defineAction<GatewayOptions>(withGateway(list), ctx, async ({ opts }) => {
    const path = mountApiPath(opts, "config");
    const api = await gatewayClient(ctx, opts);
    const body = await attempt("listing k8s auth configs", () => api.list(path));
    return printKeys(ctx, path, body, { format: opts.json ? "json" : "table" });
  });

  const remove = program
    .command("gateway-delete-k8s-auth-config")
    .description("delete a named cluster config")
    .requiredOption("-n, --name <name>", "name of the config");
  defineAction<NameOptions>(withGateway(remove), ctx, async ({ opts }) => {
    const name = plainName(opts.name, "--name");
    const api = await gatewayClient(ctx, opts);
    await attempt(`deleting k8s auth config ${name}`, () => api.delete(mountApiPath(opts, `config/${name}`)));
    return reportDone(ctx, opts, `Deleted k8s auth config (if it existed): ${name}`, { name, deleted: true });
  });
};
