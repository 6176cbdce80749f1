import { chmod, writeFile } from "node:fs/promises";
import { isSea } from "node:sea";
import { fileURLToPath } from "node:url";
import { Option, type Command } from "commander";
import { stringify } from "yaml";
import { collectList, collectPairs, trimSlashes } from "./args.js";
import { ApiError, type ApiBody, type LatchkeyClient } from "./client.js";
import { defineAction, type CommandGroup } from "./command.js";
import type { CliContext } from "./context.js";
import { UsageError, attempt } from "./errors.js";
import { gatewayClient, plainName, reportDone, showData, valueOrFile, type GatewayOptions } from "./k8s-common.js";
import { formatStructured, formatWarnings, isRecord } from "./output.js";

/** Where `latchkey secrets enable kubernetes` mounts the engine when no -path is given. */
export const DEFAULT_K8S_SECRETS_MOUNT = "kubernetes";

/** The entry point kubectl runs for an exec user: this checkout's or this package's `bin/latchkey.js`. */
const LATCHKEY_BIN = fileURLToPath(new URL("../../bin/latchkey.js", import.meta.url));

/** The single executable is its own entry point; from a checkout or package, node runs bin/latchkey.js. */
function latchkeyEntry(): { command: string; script?: string } {
  return isSea() ? { command: process.execPath } : { command: process.execPath, script: LATCHKEY_BIN };
}

/** The ExecCredential versions kubectl speaks; the shape of `status` is the same in all three. */
export const EXEC_CREDENTIAL_VERSIONS = [
  "client.authentication.k8s.io/v1beta1",
  "client.authentication.k8s.io/v1",
  "client.authentication.k8s.io/v1alpha1",
] as const;
export type ExecCredentialVersion = (typeof EXEC_CREDENTIAL_VERSIONS)[number];

interface EngineOptions extends GatewayOptions {
  name: string;
}

export interface TargetOptions extends EngineOptions {
  k8sClusterEndpoint?: string;
  k8sClusterCaCert?: string;
  k8sClusterToken?: string;
  useGwServiceAccount?: boolean;
  k8sClientCertificate?: string;
  k8sClientKey?: string;
}

export interface DynamicSecretOptions extends EngineOptions {
  targetName?: string;
  k8sClusterEndpoint?: string;
  k8sClusterCaCert?: string;
  k8sClusterToken?: string;
  k8sServiceAccountType: "fixed" | "dynamic";
  k8sServiceAccount?: string;
  k8sNamespace?: string;
  k8sPredefinedRoleType?: "Role" | "ClusterRole";
  k8sPredefinedRoleName?: string;
  k8sAllowedNamespaces?: string[];
  k8sRolebindingYamlDef?: string;
  userTtl?: string;
}

interface ValueOptions extends EngineOptions {
  args?: Record<string, string>;
}

interface KubeconfigOptions extends EngineOptions {
  namespace?: string;
  output?: string;
}

/** Adds `--gateway-url`, `--mount` (of the secrets engine) and `--json`. */
export function withEngine(command: Command, json = "print the result as JSON"): Command {
  return command
    .option("--gateway-url <url>", "address of the latchkey server (overrides -address and LATCHKEY_ADDR)")
    .option("--mount <path>", "where the kubernetes secrets engine is mounted", DEFAULT_K8S_SECRETS_MOUNT)
    .option("--json", json);
}

/** `<mount>/<rest>` for the secrets engine named by `--mount`. */
export function engineApiPath(opts: Pick<GatewayOptions, "mount">, rest: string): string {
  const mount = trimSlashes(opts.mount);
  if (mount === "") throw new UsageError("--mount must name a path, e.g. kubernetes");
  return `${mount}/${rest}`;
}

/**
 * The `<mount>/targets/<name>` body: the cluster and exactly one credential,
 * a bearer token, the server's own service account, or a client certificate.
 * CA, token, certificate and key are passed as given (PEM or base64 of PEM);
 * the server decodes and checks them.
 */
export function targetBody(opts: TargetOptions): Record<string, unknown> {
  const hasClientPair = opts.k8sClientCertificate !== undefined || opts.k8sClientKey !== undefined;
  const given = [opts.k8sClusterToken !== undefined, opts.useGwServiceAccount === true, hasClientPair].filter(Boolean).length;
  if (given !== 1) {
    throw new UsageError(
      "Give one credential: --k8s-cluster-token, --use-gw-service-account, or --k8s-client-certificate with --k8s-client-key",
    );
  }
  if (hasClientPair && (opts.k8sClientCertificate === undefined || opts.k8sClientKey === undefined)) {
    throw new UsageError("--k8s-client-certificate and --k8s-client-key go together");
  }
  // The gateway's own service account may use the in-cluster address; every other credential needs one.
  if (!opts.useGwServiceAccount && opts.k8sClusterEndpoint === undefined) {
    throw new UsageError("--k8s-cluster-endpoint is required unless --use-gw-service-account");
  }
  const body: Record<string, unknown> = {};
  const set = (key: string, value: unknown) => {
    if (value !== undefined) body[key] = value;
  };
  set("kubernetes_host", opts.k8sClusterEndpoint);
  set("kubernetes_ca_cert", opts.k8sClusterCaCert);
  set("service_account_jwt", opts.k8sClusterToken);
  set("use_gateway_service_account", opts.useGwServiceAccount ? true : undefined);
  set("client_cert", opts.k8sClientCertificate);
  set("client_key", opts.k8sClientKey);
  return body;
}

/**
 * The `<mount>/roles/<name>` body from reference 001's flags. Fixed mode issues
 * tokens for one existing service account in its namespace; dynamic mode binds
 * a temporary one to a predefined role or to the role of a YAML definition.
 * `roleBindingYaml` is the text of `--k8s-rolebinding-yaml-def`.
 */
export function dynamicSecretBody(opts: DynamicSecretOptions, roleBindingYaml?: string): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  const set = (key: string, value: unknown) => {
    if (value !== undefined) body[key] = value;
  };
  set("target", opts.targetName === undefined ? undefined : plainName(opts.targetName, "--target-name"));
  set("token_default_ttl", opts.userTtl);
  if (opts.k8sServiceAccountType === "fixed") {
    const dynamicOnly = [
      ["--k8s-predefined-role-type", opts.k8sPredefinedRoleType],
      ["--k8s-predefined-role-name", opts.k8sPredefinedRoleName],
      ["--k8s-allowed-namespaces", opts.k8sAllowedNamespaces],
      ["--k8s-rolebinding-yaml-def", opts.k8sRolebindingYamlDef],
    ].filter(([, value]) => value !== undefined);
    if (dynamicOnly.length > 0) throw new UsageError(`${dynamicOnly.map(([flag]) => flag).join(", ")}: for --k8s-service-account-type dynamic only`);
    if (opts.k8sServiceAccount === undefined || opts.k8sNamespace === undefined) {
      throw new UsageError("--k8s-service-account-type fixed needs --k8s-service-account and --k8s-namespace");
    }
    return { ...body, service_account_name: opts.k8sServiceAccount, allowed_kubernetes_namespaces: [opts.k8sNamespace] };
  }
  const fixedOnly = [
    ["--k8s-service-account", opts.k8sServiceAccount],
    ["--k8s-namespace", opts.k8sNamespace],
  ].filter(([, value]) => value !== undefined);
  if (fixedOnly.length > 0) throw new UsageError(`${fixedOnly.map(([flag]) => flag).join(", ")}: for --k8s-service-account-type fixed only`);
  if (opts.k8sAllowedNamespaces === undefined || opts.k8sAllowedNamespaces.length === 0) {
    throw new UsageError('--k8s-service-account-type dynamic needs --k8s-allowed-namespaces (names, or "*" for any)');
  }
  body.allowed_kubernetes_namespaces = opts.k8sAllowedNamespaces;
  const predefined = opts.k8sPredefinedRoleName !== undefined || opts.k8sPredefinedRoleType !== undefined;
  if (predefined === (roleBindingYaml !== undefined)) {
    throw new UsageError("--k8s-service-account-type dynamic needs --k8s-predefined-role-name (and -type) or --k8s-rolebinding-yaml-def");
  }
  if (roleBindingYaml !== undefined) return { ...body, role_binding_yaml: roleBindingYaml };
  if (opts.k8sPredefinedRoleName === undefined || opts.k8sPredefinedRoleType === undefined) {
    throw new UsageError("--k8s-predefined-role-name and --k8s-predefined-role-type go together");
  }
  return { ...body, kubernetes_role_name: opts.k8sPredefinedRoleName, kubernetes_role_type: opts.k8sPredefinedRoleType };
}

/** `--args key=value` of get-dynamic-secret-value, as the `creds/<role>` fields they stand for. */
const CREDS_ARGS: Record<string, string> = {
  namespace: "kubernetes_namespace",
  ttl: "ttl",
  audiences: "audiences",
  cluster_role_binding: "cluster_role_binding",
};

export function credsBody(args: Record<string, string> = {}): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(args)) {
    const field = CREDS_ARGS[key];
    if (field === undefined) throw new UsageError(`Unknown --args key "${key}": expected ${Object.keys(CREDS_ARGS).join(", ")}`);
    body[field] = field === "audiences" ? value.split(",").map((a) => a.trim()).filter((a) => a !== "") : value;
  }
  return body;
}

/**
 * The ExecCredential version to answer with: the one kubectl asks for in
 * `KUBERNETES_EXEC_INFO` (a JSON ExecCredential it sets for v1beta1 and v1
 * plugins), else v1beta1 as in reference 001's kubeconfig.
 */
export function execCredentialVersion(execInfo: string | undefined): ExecCredentialVersion {
  if (execInfo === undefined || execInfo.trim() === "") return "client.authentication.k8s.io/v1beta1";
  let parsed: unknown;
  try {
    parsed = JSON.parse(execInfo);
  } catch {
    throw new UsageError("KUBERNETES_EXEC_INFO is not JSON: expected the ExecCredential kubectl sets");
  }
  const asked = isRecord(parsed) ? parsed.apiVersion : undefined;
  const version = EXEC_CREDENTIAL_VERSIONS.find((v) => v === asked);
  if (version === undefined) {
    throw new UsageError(`KUBERNETES_EXEC_INFO asks for apiVersion ${JSON.stringify(asked)}; latchkey answers ${EXEC_CREDENTIAL_VERSIONS.join(", ")}`);
  }
  return version;
}

/** What kubectl reads from an exec plugin: the token and when to ask again. */
export function execCredential(data: Record<string, unknown>, apiVersion: ExecCredentialVersion): Record<string, unknown> {
  const token = data.service_account_token;
  if (typeof token !== "string" || token === "") throw new Error("the server returned no service_account_token");
  const status: Record<string, unknown> = { token };
  if (typeof data.expiration === "string" && data.expiration !== "") {
    status.expirationTimestamp = new Date(data.expiration).toISOString().replace(/\.\d{3}Z$/, "Z");
  }
  return { kind: "ExecCredential", apiVersion, spec: {}, status };
}

async function issueCreds(api: LatchkeyClient, opts: EngineOptions, body: Record<string, unknown>): Promise<ApiBody> {
  const name = plainName(opts.name, "--name");
  const path = engineApiPath(opts, `creds/${name}`);
  const answer = await attempt(`getting the value of dynamic secret ${name}`, () => api.request({ method: "POST", path, body }));
  if (!answer || !isRecord(answer.data)) throw new Error(`the server returned no credentials for ${path}`);
  return answer;
}

/** Writes `body` to `path` unless something is already there (create, not replace). */
async function createAt(api: LatchkeyClient, path: string, what: string, body: Record<string, unknown>): Promise<void> {
  if (await attempt(`reading ${what}`, () => api.read(path))) throw new Error(`The ${what} already exists at ${path}`);
  await attempt(`writing ${what}`, () => api.request({ method: "POST", path, body }));
}

interface ClusterInfo {
  server: string;
  /** base64 of the PEM bundle, as kubeconfig's certificate-authority-data. */
  caData: string;
}

const isForbidden = (err: unknown) => err instanceof Error && err.cause instanceof ApiError && err.cause.status === 403;
const text = (value: unknown) => (typeof value === "string" ? value : "");

/**
 * The cluster of a dynamic secret, from its role's target. A caller that may
 * only issue credentials (403 on the role or target), or a target whose CA is
 * the gateway's own file, gets it from one credential instead, whose lease is
 * then revoked.
 */
async function clusterOf(ctx: CliContext, api: LatchkeyClient, opts: KubeconfigOptions, name: string): Promise<ClusterInfo> {
  try {
    const role = await attempt(`reading dynamic secret ${name}`, () => api.read(engineApiPath(opts, `roles/${name}`)));
    if (!role || !isRecord(role.data)) throw new Error(`No dynamic secret named ${name} at ${engineApiPath(opts, `roles/${name}`)}`);
    const target = text(role.data.target);
    const targetPath = engineApiPath(opts, target === "" ? "config" : `targets/${target}`);
    const found = await attempt(`reading target ${target || "config"}`, () => api.read(targetPath));
    const data = found && isRecord(found.data) ? found.data : {};
    const server = text(data.kubernetes_host);
    const ca = text(data.kubernetes_ca_cert);
    if (server !== "" && ca !== "") return { server, caData: Buffer.from(ca, "utf8").toString("base64") };
  } catch (err) {
    if (!isForbidden(err)) throw err;
  }
  const answer = await issueCreds(api, opts, credsBody(opts.namespace === undefined ? {} : { namespace: opts.namespace }));
  const data = isRecord(answer.data) ? answer.data : {};
  if (typeof answer.lease_id === "string" && answer.lease_id !== "") {
    const leaseId = answer.lease_id;
    await api.request({ method: "PUT", path: "sys/leases/revoke", body: { lease_id: leaseId } }).catch((err: unknown) => {
      ctx.err(`Warning: could not revoke lease ${leaseId} (issued to read the cluster): ${err instanceof Error ? err.message : String(err)}\n`);
    });
  }
  return { server: text(data.cluster_endpoint), caData: text(data.cluster_ca_certificate) };
}

/**
 * A kubeconfig whose user runs `latchkey get-dynamic-secret-value` through
 * kubectl's exec credential plugin. kubectl passes its environment on to the
 * plugin, so LATCHKEY_ADDR and LATCHKEY_TOKEN (or ~/.latchkey-token) apply;
 * an address given on the command line is written into the arguments.
 */
export function kubeconfigFor(
  opts: KubeconfigOptions & { address?: string },
  name: string,
  cluster: ClusterInfo,
  entry: { command: string; script?: string } = latchkeyEntry(),
): Record<string, unknown> {
  const args = [...(entry.script === undefined ? [] : [entry.script]), "get-dynamic-secret-value", "--name", name];
  if (opts.namespace !== undefined) args.push("--args", `namespace=${opts.namespace}`);
  if (trimSlashes(opts.mount) !== DEFAULT_K8S_SECRETS_MOUNT) args.push("--mount", trimSlashes(opts.mount));
  const address = opts.gatewayUrl ?? opts.address;
  if (address !== undefined) args.push("--gateway-url", address);
  const id = `latchkey-${name.replace(/\//g, "-")}`;
  return {
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: id, cluster: { server: cluster.server, ...(cluster.caData !== "" && { "certificate-authority-data": cluster.caData }) } }],
    users: [
      {
        name: id,
        user: {
          exec: {
            apiVersion: "client.authentication.k8s.io/v1beta1",
            command: entry.command,
            args,
            interactiveMode: "Never",
            provideClusterInfo: false,
          },
        },
      },
    ],
    contexts: [{ name: id, context: { cluster: id, user: id, ...(opts.namespace !== undefined && { namespace: opts.namespace }) } }],
    "current-context": id,
    preferences: {},
  };
}

const MATERIAL = "base64 or PEM (or @file)";

/** The `<group>` command, made once: `create k8s`, `get`, `list` and `delete` hang off it. */
function groupCommand(program: Command, group: string, groupDescription: string): Command {
  return program.commands.find((c) => c.name() === group) ?? program.command(group).description(groupDescription);
}

/** `<group> create k8s`: Akeyless's noun, verb, kind layout. */
function createK8sCommand(program: Command, group: string, groupDescription: string, what: string): Command {
  return groupCommand(program, group, groupDescription).command("create").description(`create a ${what}`).command("k8s");
}

/**
 * `<group> get`, `<group> list` and `<group> delete` for the engine's
 * `<collection>/<name>` (targets, roles): read without secrets, the names,
 * and removal.
 */
function readListDelete(program: Command, ctx: CliContext, group: string, collection: string, what: string): void {
  const parent = groupCommand(program, group, `${what}s of the kubernetes secrets engine`);
  const get = parent.command("get").description(`show a ${what} (credentials are never shown)`).requiredOption("-n, --name <name>", `name of the ${what}`);
  defineAction<EngineOptions>(withEngine(get), ctx, ({ opts }) =>
    showData(ctx, opts, engineApiPath(opts, `${collection}/${plainName(opts.name, "--name")}`), `reading ${what} ${opts.name}`),
  );
  const list = parent.command("list").description(`list the ${what}s`);
  defineAction<GatewayOptions>(withEngine(list), ctx, async ({ opts }) => {
    const api = await gatewayClient(ctx, opts);
    const body = await attempt(`listing ${what}s`, () => api.list(engineApiPath(opts, collection)));
    const keys = isRecord(body?.data) && Array.isArray(body.data.keys) ? body.data.keys.map(String) : [];
    ctx.out(opts.json ? formatStructured({ names: keys }, "json") : keys.map((k) => `${k}\n`).join(""));
    return 0;
  });
  const remove = parent.command("delete").description(`delete a ${what}`).requiredOption("-n, --name <name>", `name of the ${what}`);
  defineAction<EngineOptions>(withEngine(remove), ctx, async ({ opts }) => {
    const name = plainName(opts.name, "--name");
    const path = engineApiPath(opts, `${collection}/${name}`);
    const api = await gatewayClient(ctx, opts);
    if (!(await attempt(`reading ${what} ${name}`, () => api.read(path)))) throw new Error(`No ${what} ${name} at ${path}`);
    await attempt(`deleting ${what} ${name}`, () => api.delete(path));
    return reportDone(ctx, opts, `Deleted ${what} ${name} at ${path}`, { name, path });
  });
}

/** `target create k8s`, `dynamic-secret create k8s`, `get-dynamic-secret-value`, `kubeconfig-generate`: the kubernetes secrets engine, Akeyless-style. */
export const registerK8sDynamicSecret: CommandGroup = (program, ctx) => {
  const createTarget = createK8sCommand(program, "target", "cluster connections of the kubernetes secrets engine: create", "target")
    .description("create a kubernetes target: a cluster and the identity latchkey calls it with")
    .requiredOption("-n, --name <name>", "name of the target")
    .option("--k8s-cluster-endpoint <url>", "URL of the API server")
    .option("--k8s-cluster-ca-cert <cert>", `CA certificate of the API server, ${MATERIAL}`)
    .option("--k8s-cluster-token <jwt>", "bearer token allowed to manage service accounts, roles and bindings (or @file)")
    .option("--use-gw-service-account", "call the API server as the latchkey server's own service account")
    .option("--k8s-client-certificate <cert>", `client certificate, ${MATERIAL}`)
    .option("--k8s-client-key <key>", `key of the client certificate, ${MATERIAL}`);
  defineAction<TargetOptions>(withEngine(createTarget), ctx, async ({ opts }) => {
    const name = plainName(opts.name, "--name");
    const body = targetBody({
      ...opts,
      k8sClusterCaCert: await valueOrFile(ctx, opts.k8sClusterCaCert),
      k8sClusterToken: await valueOrFile(ctx, opts.k8sClusterToken),
      k8sClientCertificate: await valueOrFile(ctx, opts.k8sClientCertificate),
      k8sClientKey: await valueOrFile(ctx, opts.k8sClientKey),
    });
    const path = engineApiPath(opts, `targets/${name}`);
    await createAt(await gatewayClient(ctx, opts), path, `target ${name}`, body);
    return reportDone(ctx, opts, `Created target ${name} at ${path}`, { name, path });
  });

  const createSecret = createK8sCommand(program, "dynamic-secret", "dynamic secrets of the kubernetes secrets engine: create", "dynamic secret")
    .description("create a kubernetes dynamic secret: tokens of a fixed service account, or temporary ones bound to a role")
    .requiredOption("-n, --name <name>", "name of the dynamic secret (a role of the engine)")
    .option("--target-name <name>", "the target to connect through (default the mount's config)")
    .option("--k8s-cluster-endpoint <url>", "instead of --target-name: the API server of a target made for this dynamic secret")
    .option("--k8s-cluster-ca-cert <cert>", `with --k8s-cluster-endpoint: its CA certificate, ${MATERIAL}`)
    .option("--k8s-cluster-token <jwt>", "with --k8s-cluster-endpoint: the bearer token latchkey calls it with (or @file)")
    .addOption(
      new Option("--k8s-service-account-type <type>", "fixed: tokens of an existing service account; dynamic: a temporary one")
        .choices(["fixed", "dynamic"])
        .default("fixed"),
    )
    .option("--k8s-service-account <name>", "fixed mode: the service account to issue tokens for")
    .option("--k8s-namespace <ns>", "fixed mode: the namespace of that service account")
    .addOption(new Option("--k8s-predefined-role-type <type>", "dynamic mode: kind of the existing role").choices(["Role", "ClusterRole"]))
    .option("--k8s-predefined-role-name <name>", "dynamic mode: the existing Role or ClusterRole to bind to")
    .option("--k8s-allowed-namespaces <ns>", 'dynamic mode: namespaces to issue in, comma-separated; "*" for any (repeatable)', collectList)
    .option("--k8s-rolebinding-yaml-def <file>", "dynamic mode: YAML file with a Role and a RoleBinding")
    .option("--user-ttl <duration>", "lifetime of the credentials, e.g. 60m");
  defineAction<DynamicSecretOptions>(withEngine(createSecret), ctx, async ({ opts }) => {
    const name = plainName(opts.name, "--name");
    const file = opts.k8sRolebindingYamlDef;
    const yaml = file === undefined ? undefined : await ctx.input.file(file.startsWith("@") ? file.slice(1) : file);
    const inline = opts.k8sClusterEndpoint !== undefined || opts.k8sClusterCaCert !== undefined || opts.k8sClusterToken !== undefined;
    if (inline && opts.targetName !== undefined) throw new UsageError("give --target-name or the --k8s-cluster-* flags, not both");
    const body = dynamicSecretBody(inline ? { ...opts, targetName: name } : opts, yaml);
    const path = engineApiPath(opts, `roles/${name}`);
    const api = await gatewayClient(ctx, opts);
    if (!inline) {
      await createAt(api, path, `dynamic secret ${name}`, body);
      return reportDone(ctx, opts, `Created dynamic secret ${name} at ${path}`, { name, path });
    }
    // The inline cluster becomes a target of the secret's own name; it goes again if the secret cannot be made.
    if (await attempt(`reading dynamic secret ${name}`, () => api.read(path))) throw new Error(`The dynamic secret ${name} already exists at ${path}`);
    const targetPath = engineApiPath(opts, `targets/${name}`);
    const target = targetBody({
      ...opts,
      k8sClusterCaCert: await valueOrFile(ctx, opts.k8sClusterCaCert),
      k8sClusterToken: await valueOrFile(ctx, opts.k8sClusterToken),
    });
    await createAt(api, targetPath, `target ${name}`, target);
    try {
      await attempt(`writing dynamic secret ${name}`, () => api.request({ method: "POST", path, body }));
    } catch (err) {
      await api.delete(targetPath).catch(() => undefined);
      throw err;
    }
    return reportDone(ctx, opts, `Created dynamic secret ${name} at ${path} with target ${name}`, { name, path, target: targetPath });
  });

  readListDelete(program, ctx, "target", "targets", "target");
  readListDelete(program, ctx, "dynamic-secret", "roles", "dynamic secret");

  const value = program
    .command("get-dynamic-secret-value")
    .description("issue credentials of a kubernetes dynamic secret, printed as a kubectl ExecCredential")
    .requiredOption("-n, --name <name>", "name of the dynamic secret")
    .option("--args <key=value>", "namespace=<ns>, ttl=<duration>, audiences=<a,b>, cluster_role_binding=<bool> (repeatable)", collectPairs);
  defineAction<ValueOptions>(withEngine(value, "print the credentials as the server returns them, not an ExecCredential"), ctx, async ({ opts }) => {
    const body = credsBody(opts.args);
    const version = opts.json ? undefined : execCredentialVersion(ctx.io.env.KUBERNETES_EXEC_INFO);
    const answer = await issueCreds(await gatewayClient(ctx, opts), opts, body);
    const data = isRecord(answer.data) ? answer.data : {};
    ctx.err(formatWarnings(answer));
    ctx.out(formatStructured(version === undefined ? data : execCredential(data, version), "json"));
    return 0;
  });

  const kubeconfig = program
    .command("kubeconfig-generate")
    .description("write a kubeconfig whose user gets its token from get-dynamic-secret-value")
    .requiredOption("-n, --name <name>", "name of the dynamic secret")
    .option("--namespace <ns>", "namespace of the credentials and of the context")
    .option("--output <file>", "write the kubeconfig here (mode 0600) instead of to stdout");
  defineAction<KubeconfigOptions>(withEngine(kubeconfig), ctx, async ({ opts }) => {
    const name = plainName(opts.name, "--name");
    const api = await gatewayClient(ctx, opts);
    const cluster = await clusterOf(ctx, api, opts, name);
    if (cluster.server === "") throw new Error(`the server returned no cluster endpoint for dynamic secret ${name}`);
    const config = kubeconfigFor(opts, name, cluster);
    const yaml = opts.json ? formatStructured(config, "json") : stringify(config);
    if (opts.output === undefined) {
      ctx.out(yaml);
      return 0;
    }
    const output = opts.output;
    await attempt(`writing ${output}`, async () => {
      await writeFile(output, yaml, { mode: 0o600 });
      await chmod(output, 0o600);
    });
    return reportDone(ctx, { json: false }, `Wrote the kubeconfig of dynamic secret ${name} to ${output}`, {});
  });
};
