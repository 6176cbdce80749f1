import type { Command } from "commander";
import { trimSlashes } from "./args.js";
import type { LatchkeyClient } from "./client.js";
import { noValue, success } from "./command.js";
import type { CliContext, GlobalOptions } from "./context.js";
import { UsageError, attempt } from "./errors.js";
import { dataRows, formatKeyValueTable, formatStructured, isRecord } from "./output.js";

/** Where `latchkey auth enable kubernetes` mounts the method when no -path is given. */
export const DEFAULT_K8S_MOUNT = "kubernetes";

/** Options shared by the access-id commands (`auth-method`, `gateway-*-k8s-auth-config`, `auth --access-type k8s`). */
export interface GatewayOptions extends GlobalOptions {
  gatewayUrl?: string;
  mount: string;
  json?: boolean;
}

/** Adds `--gateway-url`, `--mount` and `--json`. */
export function withGateway(command: Command): Command {
  return command
    .option("--gateway-url <url>", "address of the latchkey server (overrides -address and LATCHKEY_ADDR)")
    .option("--mount <path>", "where the kubernetes auth method is mounted", DEFAULT_K8S_MOUNT)
    .option("--json", "print the result as JSON");
}

/** The client for `--gateway-url`, else the usual -address / LATCHKEY_ADDR. */
export function gatewayClient(ctx: CliContext, opts: GatewayOptions): Promise<LatchkeyClient> {
  return ctx.client({ ...opts, address: opts.gatewayUrl ?? opts.address });
}

/** `auth/<mount>/<rest>` for the mount named by `--mount`. */
export function mountApiPath(opts: Pick<GatewayOptions, "mount">, rest: string): string {
  const mount = trimSlashes(opts.mount);
  if (mount === "") throw new UsageError("--mount must name a path, e.g. kubernetes");
  return `auth/${mount}/${rest}`;
}

/**
 * Names may be given with a leading slash (`/my-k8s-auth-method`, the habit of
 * path-style names); the server's names are plain.
 */
export function plainName(name: string, flag: string): string {
  const plain = trimSlashes(name);
  if (plain === "") throw new UsageError(`${flag} must not be empty`);
  return plain;
}

/** A flag value that is either the material itself or `@file` (keys, certificates, JWTs stay out of shell history). */
export async function valueOrFile(ctx: CliContext, value: string | undefined): Promise<string | undefined> {
  if (value === undefined) return undefined;
  return value.startsWith("@") ? (await ctx.input.file(value.slice(1))).trim() : value;
}

/** The outcome of a write or delete: `Success! <message>`, or `json` with --json. */
export function reportDone(ctx: CliContext, opts: Pick<GatewayOptions, "json">, message: string, json: Record<string, unknown>): number {
  if (!opts.json) return success(ctx, message);
  ctx.out(formatStructured(json, "json"));
  return 0;
}

/** Reads `path` and prints its data as a key/value table, or JSON with --json; nothing there exits 2. */
export async function showData(ctx: CliContext, opts: GatewayOptions, path: string, action: string): Promise<number> {
  const api = await gatewayClient(ctx, opts);
  const body = await attempt(action, () => api.read(path));
  if (!body) return noValue(ctx, path);
  const data = isRecord(body.data) ? body.data : {};
  ctx.out(opts.json ? formatStructured(data, "json") : formatKeyValueTable(dataRows(data, true)));
  return 0;
}
