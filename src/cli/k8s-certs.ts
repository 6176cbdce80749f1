import { Option } from "commander";
import { defineAction, type CommandGroup } from "./command.js";
import type { CliContext } from "./context.js";
import { UsageError, attempt } from "./errors.js";
import { gatewayClient, plainName, reportDone, valueOrFile, type GatewayOptions } from "./k8s-common.js";
import { engineApiPath, withEngine } from "./k8s-dynamic-secret.js";
import { formatStructured, formatWarnings, isRecord } from "./output.js";

interface NamedOptions extends GatewayOptions {
  name: string;
  jqExpression?: string;
}

interface CsrOptions extends NamedOptions {
  generateKey?: boolean;
  alg: string;
  commonName: string;
  org?: string;
}

interface CertificateOptions extends NamedOptions {
  certificateData: string;
  keyData?: string;
  expirationEventIn?: string;
}

/**
 * `--jq-expression`: the dotted paths reference 001 uses (`.data`, `.key`),
 * not all of jq. A string prints raw, as `jq -r` would; anything else as JSON.
 */
export function selectPath(value: unknown, expression: string): string {
  checkExpression(expression);
  let current = value;
  for (const key of expression.slice(1).split(".").filter((k) => k !== "")) current = isRecord(current) ? current[key] : undefined;
  if (current === undefined) return "null";
  return typeof current === "string" ? current : formatStructured(current, "json");
}

/** Refuses an expression before any request is made. */
function checkExpression(expression: string | undefined): void {
  if (expression !== undefined && !/^\.([A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*)?$/.test(expression)) {
    throw new UsageError(`--jq-expression supports only dotted paths such as .data or .key, not ${JSON.stringify(expression)}`);
  }
}

/** Prints `value` as JSON, or the part `--jq-expression` selects. */
function printSelected(ctx: CliContext, opts: NamedOptions, value: unknown): number {
  ctx.out(opts.jqExpression === undefined ? formatStructured(value, "json") : selectPath(value, opts.jqExpression));
  return 0;
}

const named = (description: string) => (command: ReturnType<typeof withEngine>) =>
  command
    .requiredOption("-n, --name <name>", description)
    .option("--jq-expression <expr>", "print only this part of the JSON result (.data, .key)");

/** `generate-csr`, `export-classic-key`, `create-certificate`, `list-events`: reference 001's certificate flow on the kubernetes secrets engine. */
export const registerK8sCerts: CommandGroup = (program, ctx) => {
  const csr = named("name of the key (path-style names such as /k8s/cluster/csr/user are fine)")(
    withEngine(program.command("generate-csr").description("generate a key (kept by latchkey) and a PKCS#10 certificate signing request")),
  )
    .option("--generate-key", "generate the key (required: latchkey makes and keeps it)")
    .addOption(new Option("--alg <alg>", "key algorithm").choices(["RSA2048", "RSA4096", "EC256"]).default("RSA2048"))
    .requiredOption("--common-name <cn>", "the subject's common name (the Kubernetes user name)")
    .option("--org <org>", "the subject's organizations, comma-separated (the Kubernetes groups)");
  defineAction<CsrOptions>(csr, ctx, async ({ opts }) => {
    checkExpression(opts.jqExpression);
    if (!opts.generateKey) throw new UsageError("--generate-key is required: latchkey makes the key and keeps it");
    const name = plainName(opts.name, "--name");
    const api = await gatewayClient(ctx, opts);
    const body = { generate_key: true, key_algorithm: opts.alg, common_name: opts.commonName, organization: opts.org ?? "" };
    const answer = await attempt(`generating the CSR ${name}`, () => api.write(engineApiPath(opts, `csr/${name}`), body));
    const data = isRecord(answer?.data) ? answer.data : {};
    return printSelected(ctx, opts, { name, data: data.csr, key_algorithm: data.key_algorithm });
  });

  const key = named("name of the key")(withEngine(program.command("export-classic-key").description("print a key generated with generate-csr")));
  defineAction<NamedOptions>(key, ctx, async ({ opts }) => {
    checkExpression(opts.jqExpression);
    const name = plainName(opts.name, "--name");
    const api = await gatewayClient(ctx, opts);
    const answer = await attempt(`reading the key ${name}`, () => api.read(engineApiPath(opts, `csr/${name}/key`)));
    if (!answer) throw new Error(`no key named ${name}`);
    return printSelected(ctx, opts, isRecord(answer.data) ? answer.data : {});
  });

  const cert = named("name of the certificate")(withEngine(program.command("create-certificate").description("store a certificate and be warned before it expires")))
    .requiredOption("--certificate-data <cert>", "the certificate, base64 or PEM (or @file)")
    .option("--key-data <key>", "its key, base64 or PEM (or @file)")
    .option("--expiration-event-in <days>", "raise an expiration event this many days before the certificate expires");
  defineAction<CertificateOptions>(cert, ctx, async ({ opts }) => {
    checkExpression(opts.jqExpression);
    const name = plainName(opts.name, "--name");
    const days = opts.expirationEventIn === undefined ? 0 : Number(opts.expirationEventIn);
    if (!Number.isInteger(days) || days < 0) throw new UsageError("--expiration-event-in must be a whole number of days");
    const body = {
      certificate_data: await valueOrFile(ctx, opts.certificateData),
      key_data: await valueOrFile(ctx, opts.keyData),
      expiration_event_in: days,
    };
    const path = engineApiPath(opts, `certificates/${name}`);
    const api = await gatewayClient(ctx, opts);
    const answer = await attempt(`storing the certificate ${name}`, () => api.write(path, body));
    const data = isRecord(answer?.data) ? answer.data : {};
    if (opts.jqExpression !== undefined) return printSelected(ctx, opts, data);
    return reportDone(ctx, opts, `Created certificate ${name} at ${path}; it expires at ${String(data.expiration)}`, { name, path, ...data });
  });

  const events = withEngine(program.command("list-events").description("list the due events: certificates about to expire"));
  defineAction<GatewayOptions>(events, ctx, async ({ opts }) => {
    const api = await gatewayClient(ctx, opts);
    const answer = await attempt("listing events", () => api.read(engineApiPath(opts, "events")));
    const list = isRecord(answer?.data) && Array.isArray(answer.data.events) ? answer.data.events.filter(isRecord) : [];
    if (answer) ctx.err(formatWarnings(answer));
    if (opts.json) {
      ctx.out(formatStructured({ events: list }, "json"));
      return 0;
    }
    if (list.length === 0) ctx.out("No events");
    for (const e of list) ctx.out(`${String(e.type)}\t${String(e.name)}\texpires ${String(e.expiration)}`);
    return 0;
  });
};
