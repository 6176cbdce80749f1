import type { ApiBody } from "./client.js";
import { defineAction, withFormat, type CommandGroup, type FormatOptions } from "./command.js";
import type { CliContext } from "./context.js";
import { attempt } from "./errors.js";
import { formatKeyValueTable, formatStructured, formatValue } from "./output.js";

/** The seal status table shared by `status` and `operator unseal`; rows without a value are left out. */
export function formatSealStatus(status: ApiBody): string {
  const rows: [string, string][] = [];
  const add = (label: string, value: unknown) => {
    if (value !== undefined && value !== null && value !== "") rows.push([label, formatValue(value)]);
  };
  add("Seal Type", status.type);
  add("Initialized", status.initialized);
  add("Sealed", status.sealed);
  add("Total Shares", status.n);
  add("Threshold", status.t);
  if (status.sealed === true) {
    add("Unseal Progress", status.progress === undefined ? undefined : `${formatValue(status.progress)}/${formatValue(status.t)}`);
    add("Unseal Nonce", status.nonce);
  }
  add("Version", status.version);
  add("Build Date", status.build_date);
  add("Storage Type", status.storage_type);
  add("Cluster Name", status.cluster_name);
  add("Cluster ID", status.cluster_id);
  add("HA Enabled", status.ha_enabled);
  return formatKeyValueTable(rows);
}

/** Prints a seal status; the exit code is 2 while sealed so that scripts can test it. */
export function printSealStatus(ctx: CliContext, status: ApiBody, opts: FormatOptions): number {
  ctx.out(opts.format === "table" ? formatSealStatus(status) : formatStructured(status, opts.format));
  return status.sealed === false ? 0 : 2;
}

export const registerStatus: CommandGroup = (program, ctx) => {
  const status = program
    .command("status")
    .description("print the seal status; exit code 0 unsealed, 1 error, 2 sealed");
  defineAction<FormatOptions>(withFormat(status, ctx), ctx, async ({ opts, client }) => {
    const api = await client();
    const body = await attempt("checking seal status", () => api.request({ method: "GET", path: "sys/seal-status" }));
    return printSealStatus(ctx, body ?? {}, opts);
  });
};
