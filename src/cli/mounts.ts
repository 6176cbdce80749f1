import type { Command } from "commander";
import { trimSlashes } from "./args.js";
import type { ApiBody } from "./client.js";
import { defineAction, success, withFormat, type FormatOptions } from "./command.js";
import type { CliContext } from "./context.js";
import { attempt } from "./errors.js";
import { formatStructured, formatTable, formatValue, isRecord } from "./output.js";

export interface EnableFlags {
  path?: string;
  description?: string;
  defaultLeaseTtl?: string;
  maxLeaseTtl?: string;
}

/** What differs between auth methods (`sys/auth`) and secrets engines (`sys/mounts`). */
export interface MountKind<F extends EnableFlags> {
  /** `sys/auth` or `sys/mounts`. */
  api: string;
  /** Verbs and messages: "auth method", "secrets engine". */
  noun: string;
  enabledMessage(type: string, path: string): string;
  /** Options beyond path/description/lease TTLs. */
  extraOptions?(command: Command): Command;
  /** Turns the type argument and flags into the request's type and options. */
  resolve?(type: string, flags: F): { type: string; options?: Record<string, string> };
}

/** The mounts of a `sys/auth` or `sys/mounts` listing, by path, from `data` (or the top level of older shapes). */
export function mountEntries(body: ApiBody | undefined): [string, Record<string, unknown>][] {
  const source = body && isRecord(body.data) && Object.keys(body.data).length > 0 ? body.data : (body ?? {});
  const entries: [string, Record<string, unknown>][] = [];
  for (const [path, value] of Object.entries(source)) {
    if (isRecord(value) && typeof value.type === "string") entries.push([path, value]);
  }
  return entries.sort(([a], [b]) => a.localeCompare(b));
}

export function formatMountTable(entries: [string, Record<string, unknown>][]): string {
  const rows = entries.map(([path, mount]) => [
    path,
    formatValue(mount.type),
    mount.accessor === undefined ? "" : formatValue(mount.accessor),
    mount.description === undefined ? "" : formatValue(mount.description),
  ]);
  return formatTable(["Path", "Type", "Accessor", "Description"], rows);
}

/** Adds `enable`, `disable` and `list` for one kind of mount to `group`. */
export function registerMountCommands<F extends EnableFlags>(group: Command, ctx: CliContext, kind: MountKind<F>): void {
  let enable = group
    .command("enable")
    .description(`enable a ${kind.noun} at a path`)
    .argument("<type>")
    .option("--path <path>", "where to mount it (default: the type)")
    .option("--description <text>", "human-friendly description")
    .option("--default-lease-ttl <duration>", "default lease time to live")
    .option("--max-lease-ttl <duration>", "maximum lease time to live");
  enable = kind.extraOptions ? kind.extraOptions(enable) : enable;
  defineAction<F>(enable, ctx, async ({ args: [typeArg], opts, client }) => {
    const path = trimSlashes(opts.path ?? typeArg);
    const { type, options } = kind.resolve ? kind.resolve(typeArg, opts) : { type: typeArg, options: undefined };
    const body: Record<string, unknown> = { type };
    if (opts.description !== undefined) body.description = opts.description;
    if (options !== undefined) body.options = options;
    const config: Record<string, string> = {};
    if (opts.defaultLeaseTtl !== undefined) config.default_lease_ttl = opts.defaultLeaseTtl;
    if (opts.maxLeaseTtl !== undefined) config.max_lease_ttl = opts.maxLeaseTtl;
    if (Object.keys(config).length > 0) body.config = config;
    const api = await client();
    await attempt(`enabling ${kind.noun} at ${path}/`, () => api.request({ method: "POST", path: `${kind.api}/${path}`, body }));
    return success(ctx, kind.enabledMessage(typeArg, `${path}/`));
  });

  const disable = group.command("disable").description(`disable the ${kind.noun} at a path`).argument("<path>");
  defineAction(disable, ctx, async ({ args: [raw], client }) => {
    const path = trimSlashes(raw);
    const api = await client();
    await attempt(`disabling ${kind.noun} at ${path}/`, () => api.delete(`${kind.api}/${path}`));
    return success(ctx, `Disabled the ${kind.noun} (if it existed) at: ${path}/`);
  });

  const list = group.command("list").description(`list the enabled ${kind.noun}s`);
  defineAction<FormatOptions>(withFormat(list, ctx), ctx, async ({ opts, client }) => {
    const api = await client();
    const body = await attempt(`listing ${kind.noun}s`, () => api.read(kind.api));
    const entries = mountEntries(body);
    ctx.out(opts.format === "table" ? formatMountTable(entries) : formatStructured(Object.fromEntries(entries), opts.format));
    return 0;
  });
}
