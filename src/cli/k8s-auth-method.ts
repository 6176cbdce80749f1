import { Option } from "commander";
import { collectList } from "./args.js";
import type { ApiBody } from "./client.js";
import { defineAction, noValue, type CommandGroup } from "./command.js";
import { UsageError, attempt } from "./errors.js";
import { gatewayClient, mountApiPath, plainName, reportDone, showData, withGateway, type GatewayOptions } from "./k8s-common.js";
import { formatKeyValueTable, formatStructured, formatTable, formatValue, isRecord } from "./output.js";

interface NameOptions extends GatewayOptions {
  name: string;
}

export interface CreateK8sOptions extends NameOptions {
  boundPodNames?: string[];
  boundNamespaces?: string[];
  boundNamespaceSelector?: string;
  boundSaNames?: string[];
  audience?: string[];
  policies?: string[];
  tokenTtl?: string;
  boundIps?: string[];
  keyType?: "ec" | "rsa";
}

/**
 * The `auth/<mount>/access-id` body: the role's bindings and token settings.
 * Without `--bound-sa-names` the server lets any service account in; a
 * namespace binding (names or a label selector) is always required.
 */
export function accessIdBody(opts: CreateK8sOptions): Record<string, unknown> {
  if (opts.boundNamespaces === undefined && opts.boundNamespaceSelector === undefined) {
    throw new UsageError('Give --bound-namespaces (names, globs, or "*" for any) or --bound-namespace-selector');
  }
  const body: Record<string, unknown> = { name: plainName(opts.name, "--name") };
  const set = (key: string, value: unknown) => {
    if (value !== undefined) body[key] = value;
  };
  set("bound_service_account_names", opts.boundSaNames);
  set("bound_service_account_namespaces", opts.boundNamespaces);
  set("bound_service_account_namespace_selector", opts.boundNamespaceSelector);
  set("bound_pod_names", opts.boundPodNames);
  set("audience", opts.audience);
  set("token_policies", opts.policies);
  set("token_ttl", opts.tokenTtl);
  set("token_bound_cidrs", opts.boundIps);
  set("key_type", opts.keyType);
  return body;
}

const dataOf = (body: ApiBody | undefined): Record<string, unknown> => (body && isRecord(body.data) ? body.data : {});

/** `auth-method create k8s|get|list|delete`: kubernetes roles with an access id and a signing key. */
export const registerK8sAuthMethod: CommandGroup = (program, ctx) => {
  const group = program
    .command("auth-method")
    .description("kubernetes auth methods with an access id: create, get, list, delete");
  const create = group.command("create").description("create an auth method");

  const k8s = create
    .command("k8s")
    .description("create a kubernetes role with an access id; prints the access id and its private signing key (once)")
    .requiredOption("-n, --name <name>", "name of the auth method (the role)")
    .option("--bound-pod-names <name>", "pod names (globs) allowed to log in (repeatable)", collectList)
    .option("--bound-namespaces <ns>", 'namespaces (globs) allowed to log in; "*" for any (repeatable)', collectList)
    .option("--bound-namespace-selector <selector>", "label selector of allowed namespaces (JSON or YAML)")
    .option("--bound-sa-names <name>", "service account names (globs) allowed to log in; default any (repeatable)", collectList)
    .option("--audience <aud>", "audience the service-account token must carry (repeatable)", collectList)
    .option("--policies <policy>", "policies of the tokens issued (repeatable)", collectList)
    .option("--token-ttl <duration>", "time to live of the tokens issued, e.g. 20m")
    .option("--bound-ips <cidr>", "CIDRs from which logins and issued tokens may be used (repeatable)", collectList)
    .addOption(new Option("--key-type <type>", "signing key type").choices(["ec", "rsa"]));
  defineAction<CreateK8sOptions>(withGateway(k8s), ctx, async ({ opts }) => {
    const body = accessIdBody(opts);
    const api = await gatewayClient(ctx, opts);
    const answer = await attempt(`creating auth method ${String(body.name)}`, () =>
      api.request({ method: "POST", path: mountApiPath(opts, "access-id"), body }),
    );
    const data = dataOf(answer);
    if (typeof data.access_id !== "string" || typeof data.prv_key !== "string") {
      throw new Error(`the server returned no access id for ${mountApiPath(opts, "access-id")}`);
    }
    const created = { access_id: data.access_id, prv_key: data.prv_key };
    if (opts.json) {
      ctx.out(formatStructured(created, "json"));
      return 0;
    }
    ctx.out(formatKeyValueTable([["access_id", created.access_id], ["prv_key", created.prv_key]]));
    ctx.err("\nThe private key is shown only this once: keep it for gateway-create-k8s-auth-config --signing-key.\n");
    return 0;
  });

  const get = group
    .command("get")
    .description("show an auth method's bindings and token settings")
    .requiredOption("-n, --name <name>", "name of the auth method");
  defineAction<NameOptions>(withGateway(get), ctx, async ({ opts }) => {
    const name = plainName(opts.name, "--name");
    return showData(ctx, opts, mountApiPath(opts, `role/${name}`), `reading auth method ${name}`);
  });

  const list = group.command("list").description("list the auth methods that have an access id");
  defineAction<GatewayOptions>(withGateway(list), ctx, async ({ opts }) => {
    const path = mountApiPath(opts, "access-id");
    const api = await gatewayClient(ctx, opts);
    const keys = dataOf(await attempt("listing auth methods", () => api.list(path))).keys;
    if (!Array.isArray(keys) || keys.length === 0) return noValue(ctx, path);
    const methods = [];
    for (const id of keys) {
      const data = dataOf(await attempt(`reading access id ${String(id)}`, () => api.read(`${path}/${String(id)}`)));
      methods.push({ name: data.role, access_id: data.access_id ?? id, key_type: data.key_type, created_time: data.created_time });
    }
    if (opts.json) {
      ctx.out(formatStructured(methods, "json"));
      return 0;
    }
    const rows = methods.map((m) => [m.name, m.access_id, m.key_type, m.created_time].map((v) => (v === undefined ? "" : formatValue(v))));
    ctx.out(formatTable(["Name", "Access ID", "Key Type", "Created"], rows));
    return 0;
  });

  const remove = group
    .command("delete")
    .description("delete an auth method with its access id (refused while a gateway config signs for it)")
    .requiredOption("-n, --name <name>", "name of the auth method");
  defineAction<NameOptions>(withGateway(remove), ctx, async ({ opts }) => {
    const name = plainName(opts.name, "--name");
    const api = await gatewayClient(ctx, opts);
    await attempt(`deleting auth method ${name}`, () => api.delete(mountApiPath(opts, `role/${name}`)));
    return reportDone(ctx, opts, `Deleted auth method (if it existed): ${name}`, { name, deleted: true });
  });
};
