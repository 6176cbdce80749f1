import { InvalidArgumentError, type Command } from "commander";
import { UsageError } from "./errors.js";
import type { InputSource } from "./input.js";
import { isRecord } from "./output.js";

/**
 * Long option names defined anywhere in the program, mapped to whether every
 * definition of that name is a flag without a value.
 */
export function longOptionNames(program: Command): Map<string, boolean> {
  const names = new Map<string, boolean>([["help", true]]);
  const visit = (command: Command) => {
    for (const option of command.options) {
      if (!option.long) continue;
      const name = option.long.replace(/^--/, "");
      const flag = !option.required && !option.optional;
      names.set(name, (names.get(name) ?? true) && flag);
    }
    command.commands.forEach(visit);
  };
  visit(program);
  return names;
}

const OPTION_LIKE = /^--?([A-Za-z][A-Za-z0-9-]*)(=(.*))?$/s;
const TRUE_WORDS = /^(1|t|true)$/i;
const FALSE_WORDS = /^(0|f|false)$/i;

/**
 * Rewrites single-dash long options (`-field=x`, `-format json`, `-orphan`) to
 * the `--` form commander parses, for names the program knows. Flags also take
 * `=true`/`=false` as in Go's flag package. Everything after `--`, and the value
 * that follows a value-taking option, is left alone.
 */
export function normaliseArgv(argv: readonly string[], names: ReadonlyMap<string, boolean>): string[] {
  const result: string[] = [];
  let valueExpected = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--") {
      result.push(...argv.slice(i));
      break;
    }
    const match = OPTION_LIKE.exec(arg);
    const isFlag = match ? names.get(match[1]) : undefined;
    if (valueExpected || !match || isFlag === undefined) {
      valueExpected = false;
      result.push(arg);
      continue;
    }
    const [, name, assignment, value] = match;
    if (assignment !== undefined && isFlag) {
      if (TRUE_WORDS.test(value)) result.push(`--${name}`);
      else if (!FALSE_WORDS.test(value)) result.push(`--${name}${assignment}`); // commander reports the bad value
      continue;
    }
    valueExpected = assignment === undefined && !isFlag;
    result.push(`--${name}${assignment ?? ""}`);
  }
  return result;
}

function addValue(data: Record<string, unknown>, key: string, value: unknown): void {
  if (!(key in data)) {
    data[key] = value;
    return;
  }
  // A repeated key collects its values into a list: `policies=a policies=b`.
  const existing = data[key];
  data[key] = Array.isArray(existing) ? [...existing, value] : [existing, value];
}

function parseJsonObject(text: string, source: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`Failed to parse JSON from ${source}: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!isRecord(parsed)) throw new UsageError(`Failed to parse JSON from ${source}: expected an object`);
  return parsed;
}

/**
 * Builds request data from `key=value` arguments. A value `@path` is the file's
 * contents and `-` is stdin; a lone `-` or `@file.json` argument is a JSON
 * object (from stdin or the file) merged into the data.
 */
export async function parseKeyValues(args: readonly string[], input: InputSource): Promise<Record<string, unknown>> {
  const data: Record<string, unknown> = {};
  for (const arg of args) {
    if (arg === "-") {
      for (const [key, value] of Object.entries(parseJsonObject(await input.stdin(), "stdin"))) addValue(data, key, value);
      continue;
    }
    const eq = arg.indexOf("=");
    if (eq < 0 && arg.startsWith("@")) {
      const path = arg.slice(1);
      for (const [key, value] of Object.entries(parseJsonObject(await input.file(path), path))) addValue(data, key, value);
      continue;
    }
    if (eq <= 0) throw new UsageError(`Failed to parse K=V data: invalid key/value pair "${arg}": format must be key=value`);
    const key = arg.slice(0, eq);
    const raw = arg.slice(eq + 1);
    const value = raw === "-" ? await input.stdin() : raw.startsWith("@") ? await input.file(raw.slice(1)) : raw;
    addValue(data, key, value);
  }
  return data;
}

/** Request data as query parameters (reads and deletes carry their data in the URL). */
export function toQuery(data: Record<string, unknown>): Record<string, string[]> {
  const query: Record<string, string[]> = {};
  for (const [key, value] of Object.entries(data)) {
    query[key] = (Array.isArray(value) ? value : [value]).map((item) =>
      typeof item === "string" ? item : JSON.stringify(item),
    );
  }
  return query;
}

/** Commander value parser for repeatable options; `a,b` counts as two values. */
export function collectList(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), ...value.split(",").map((item) => item.trim()).filter((item) => item !== "")];
}

/** Commander value parser for repeatable `key=value` options. */
export function collectPairs(value: string, previous: Record<string, string> | undefined): Record<string, string> {
  const eq = value.indexOf("=");
  if (eq <= 0) throw new InvalidArgumentError(`expected key=value, got "${value}"`);
  return { ...(previous ?? {}), [value.slice(0, eq)]: value.slice(eq + 1) };
}

/** Commander value parser for whole numbers ≥ 0. */
export function parseCount(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError("expected a whole number");
  return Number(value);
}

/** Commander value parser for `1,2,3` version lists. */
export function parseCountList(value: string, previous: number[] | undefined): number[] {
  const items = value.split(",").map((item) => item.trim()).filter((item) => item !== "");
  return [...(previous ?? []), ...items.map(parseCount)];
}

/** Strips leading and trailing slashes: the CLI accepts `/secret/foo/` and `secret/foo` alike. */
export function trimSlashes(path: string): string {
  return path.replace(/^\/+/, "").replace(/\/+$/, "");
}
