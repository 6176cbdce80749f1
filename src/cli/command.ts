import { Option, type Command, type OptionValues } from "commander";
import type { ApiBody, LatchkeyClient } from "./client.js";
import type { CliContext, GlobalOptions } from "./context.js";
import {
  OUTPUT_FORMATS,
  formatField,
  formatKeyList,
  formatSecretTable,
  formatStructured,
  formatWarnings,
  isOutputFormat,
  isRecord,
  selectField,
  type OutputFormat,
} from "./output.js";

/**
 * A command group adds its commands to the program. A new group is a new file
 * exporting one of these plus one line in `program.ts`.
 */
export type CommandGroup = (program: Command, ctx: CliContext) => void;

export interface Invocation<O> {
  /** Positional arguments, in order. */
  args: string[];
  /** The command's options merged with the global ones. */
  opts: O & GlobalOptions;
  ctx: CliContext;
  /** The HTTP client for the configured server. */
  client(): Promise<LatchkeyClient>;
}

/** A command's body; the number returned (default 0) becomes the exit code. */
export type Handler<O> = (run: Invocation<O>) => Promise<number | void>;

export function defineAction<O extends OptionValues>(command: Command, ctx: CliContext, handler: Handler<O>): Command {
  return command.action(async () => {
    const opts = command.optsWithGlobals<O & GlobalOptions>();
    const code = await handler({ args: [...command.args], opts, ctx, client: () => ctx.client(opts) });
    ctx.exitCode = code ?? 0;
  });
}

export interface FormatOptions {
  format: OutputFormat;
}
export interface OutputOptions extends FormatOptions {
  field?: string;
}

/** Adds `-format` (default `LATCHKEY_FORMAT` or table). */
export function withFormat(command: Command, ctx: CliContext): Command {
  const fromEnv = ctx.io.env.LATCHKEY_FORMAT;
  return command.addOption(
    new Option("--format <format>", "output format").choices(OUTPUT_FORMATS).default(isOutputFormat(fromEnv) ? fromEnv : "table"),
  );
}

/** Adds `-format` and `-field`. */
export function withOutput(command: Command, ctx: CliContext): Command {
  return withFormat(command, ctx).option("--field <name>", "print only this field, raw (no trailing newline when piped)");
}

/** Prints one value raw; like a shell variable it gets a newline only on a terminal. */
export function printField(ctx: CliContext, value: unknown, format: OutputFormat): void {
  ctx.out(formatField(value, format) + (ctx.io.stdout.isTTY ? "\n" : ""));
}

/**
 * Prints a response envelope: one field, the whole body as JSON/YAML, or a table
 * (`table` renders it; default the lease/auth/data table). Returns the exit code.
 */
export function printResponse(
  ctx: CliContext,
  body: ApiBody,
  opts: OutputOptions,
  table: (body: ApiBody) => string = formatSecretTable,
  pickField: (body: ApiBody, field: string) => unknown = selectField,
): number {
  if (opts.field !== undefined) {
    const value = pickField(body, opts.field);
    if (value === undefined) {
      ctx.err(`Field "${opts.field}" not present in secret\n`);
      return 1;
    }
    printField(ctx, value, opts.format);
    return 0;
  }
  if (opts.format !== "table") {
    ctx.out(formatStructured(body, opts.format));
    return 0;
  }
  ctx.err(formatWarnings(body));
  ctx.out(table(body));
  return 0;
}

/** `No value found at <path>` with exit code 2, as a read of nothing reports. */
export function noValue(ctx: CliContext, path: string): number {
  ctx.err(`No value found at ${path}\n`);
  return 2;
}

/** Prints the `Success! ...` line (after any warnings the server returned). */
export function success(ctx: CliContext, message: string, body?: ApiBody): number {
  ctx.err(formatWarnings(body));
  ctx.out(`Success! ${message}\n`);
  return 0;
}

/** Prints `data.keys` of a list response: a `Keys` table, or the bare array as JSON/YAML. */
export function printKeys(ctx: CliContext, path: string, body: ApiBody | undefined, opts: FormatOptions): number {
  const keys = body && isRecord(body.data) && Array.isArray(body.data.keys) ? body.data.keys : [];
  if (keys.length === 0) return noValue(ctx, path);
  ctx.out(opts.format === "table" ? formatKeyList(keys) : formatStructured(keys, opts.format));
  return 0;
}
