import type { Command } from "commander";
import { parseCount, parseCountList, parseKeyValues, trimSlashes } from "./args.js";
import { ApiError, type ApiBody, type LatchkeyClient } from "./client.js";
import {
  defineAction,
  noValue,
  printKeys,
  printResponse,
  success,
  withFormat,
  withOutput,
  type CommandGroup,
  type FormatOptions,
  type OutputOptions,
} from "./command.js";
import { CommandError, UsageError, attempt } from "./errors.js";
import { dataRows, formatKeyValueTable, headerForData, isRecord, sectionHeader } from "./output.js";

/** A secret's place: the engine's mount, the path inside it, and whether the engine is versioned (KV v2). */
export interface KvTarget {
  mount: string;
  path: string;
  v2: boolean;
}

interface MountFlag {
  mount?: string;
}

const join = (...parts: string[]) => parts.filter((part) => part !== "").join("/");

/** The API path of a KV operation: v2 puts `data/`, `metadata/`, ... between mount and path. */
export function kvApiPath(target: KvTarget, section: "data" | "metadata" | "delete" | "undelete" | "destroy"): string {
  return target.v2 ? join(target.mount, section, target.path) : join(target.mount, target.path);
}

/** Without -mount and without mount discovery, the first path segment is taken as the mount. */
export function splitMount(path: string): { mount: string; path: string } {
  const slash = path.indexOf("/");
  return slash < 0 ? { mount: path, path: "" } : { mount: path.slice(0, slash), path: path.slice(slash + 1) };
}

/**
 * Finds the mount and KV version of a path: asks `sys/internal/ui/mounts/<path>`
 * (longest-prefix match on the server) and, when the server cannot answer,
 * takes `-mount` or the first segment as the mount and assumes version 2.
 */
export async function resolveKvTarget(api: LatchkeyClient, rawPath: string, mountFlag: string | undefined): Promise<KvTarget> {
  const path = trimSlashes(rawPath);
  const mount = mountFlag === undefined ? undefined : trimSlashes(mountFlag);
  const full = mount === undefined ? path : join(mount, path);
  let info: Record<string, unknown> | undefined;
  try {
    const body = await api.request({ method: "GET", path: `sys/internal/ui/mounts/${full}`, emptyOn404: true });
    info = isRecord(body?.data) ? body.data : undefined;
  } catch (err) {
    if (!(err instanceof ApiError)) throw new CommandError(`looking up the mount of ${full}`, err);
  }
  const found = info && typeof info.path === "string" ? trimSlashes(info.path) : "";
  if (found !== "" && (full === found || full.startsWith(`${found}/`))) {
    const options = info && isRecord(info.options) ? info.options : {};
    return { mount: found, path: trimSlashes(full.slice(found.length)), v2: String(options.version) === "2" };
  }
  if (mount !== undefined) return { mount, path, v2: true };
  return { ...splitMount(path), v2: true };
}

function pathSection(title: string, apiPath: string): string {
  return `${sectionHeader(title, apiPath.length)}\n${apiPath}\n`;
}

function dataSection(title: string, data: Record<string, unknown>): string {
  return `${headerForData(title, data)}\n${formatKeyValueTable(dataRows(data))}`;
}

const record = (value: unknown): Record<string, unknown> => (isRecord(value) ? value : {});

function kvCommand(parent: Command, name: string, description: string): Command {
  return parent
    .command(name)
    .description(description)
    .argument("<path>", "secret path: <mount>/<path>, or the path inside -mount")
    .option("--mount <mount>", "where the KV engine is mounted; the argument is then the path inside it");
}

/** `kv put|get|delete|undelete|destroy|list|metadata`: the key/value engine, versions included. */
export const registerKv: CommandGroup = (program, ctx) => {
  const kv = program.command("kv").description("read and write secrets in a key/value engine");

  const put = kvCommand(kv, "put", "write a secret (a new version on KV v2)")
    .argument("[key=value...]", "data; a value @file reads the file, - reads stdin; a lone - is a JSON object on stdin")
    .option("--cas <version>", "write only if the current version is this one (0: only if absent)", parseCount);
  defineAction<OutputOptions & MountFlag & { cas?: number }>(withOutput(put, ctx), ctx, async ({ args: [raw, ...pairs], opts, client }) => {
    const data = await parseKeyValues(pairs, ctx.input);
    if (Object.keys(data).length === 0) throw new UsageError("Must supply data");
    const api = await client();
    const target = await resolveKvTarget(api, raw, opts.mount);
    const path = kvApiPath(target, "data");
    const request = target.v2 ? { data, ...(opts.cas === undefined ? {} : { options: { cas: opts.cas } }) } : data;
    const body = await attempt(`writing data to ${path}`, () => api.write(path, request));
    if (!body || !isRecord(body.data)) return success(ctx, `Data written to: ${path}`, body);
    return printResponse(ctx, body, opts, (shown) => `${pathSection("Secret Path", path)}\n${dataSection("Metadata", record(shown.data))}`);
  });

  const get = kvCommand(kv, "get", "read a secret (on KV v2 the latest version unless -version)").option(
    "--version <n>",
    "version to read",
    parseCount,
  );
  defineAction<OutputOptions & MountFlag & { version?: number }>(withOutput(get, ctx), ctx, async ({ args: [raw], opts, client }) => {
    const api = await client();
    const target = await resolveKvTarget(api, raw, opts.mount);
    const path = kvApiPath(target, "data");
    const query = target.v2 && opts.version !== undefined ? { version: String(opts.version) } : undefined;
    const body = await attempt(`reading ${path}`, () => api.read(path, query));
    if (!body || !isRecord(body.data)) return noValue(ctx, path);
    if (!target.v2) return printResponse(ctx, body, opts, (shown) => dataSection("Data", record(shown.data)));
    const secret = record(body.data.data);
    const pickData = (_: ApiBody, field: string) => (secret[field] === null ? undefined : secret[field]);
    const deleted = !isRecord(body.data.data);
    const code = printResponse(
      ctx,
      body,
      opts,
      (shown) => {
        const metadata = record(record(shown.data).metadata);
        const sections = [pathSection("Secret Path", path), dataSection("Metadata", metadata)];
        if (!deleted) sections.push(dataSection("Data", secret));
        return sections.join("\n");
      },
      pickData,
    );
    return code === 0 && deleted && opts.format === "table" && opts.field === undefined ? noValue(ctx, path) : code;
  });

  const versionsOption = "--versions <n,...>";
  const remove = kvCommand(kv, "delete", "delete the latest version (or -versions) of a secret; KV v2 can undelete").option(
    versionsOption,
    "versions to delete",
    parseCountList,
  );
  defineAction<MountFlag & { versions?: number[] }>(remove, ctx, async ({ args: [raw], opts, client }) => {
    const api = await client();
    const target = await resolveKvTarget(api, raw, opts.mount);
    if (opts.versions !== undefined && target.v2) {
      const path = kvApiPath(target, "delete");
      const versions = opts.versions;
      await attempt(`deleting ${path}`, () => api.write(path, { versions }));
      return success(ctx, `Data deleted (if it existed) at: ${path}`);
    }
    const path = kvApiPath(target, "data");
    await attempt(`deleting ${path}`, () => api.delete(path));
    return success(ctx, `Data deleted (if it existed) at: ${path}`);
  });

  for (const [verb, description] of [
    ["undelete", "restore deleted versions of a secret (KV v2)"],
    ["destroy", "permanently remove versions of a secret (KV v2)"],
  ] as const) {
    const command = kvCommand(kv, verb, description).requiredOption(versionsOption, "versions", parseCountList);
    defineAction<MountFlag & { versions: number[] }>(command, ctx, async ({ args: [raw], opts, client }) => {
      const api = await client();
      const target = await resolveKvTarget(api, raw, opts.mount);
      if (!target.v2) throw new UsageError(`${verb} needs a KV version 2 engine; ${target.mount}/ is version 1`);
      const path = kvApiPath(target, verb);
      await attempt(`writing data to ${path}`, () => api.write(path, { versions: opts.versions }));
      return success(ctx, `Data written to: ${path}`);
    });
  }

  const list = kvCommand(kv, "list", "list the keys under a path");
  defineAction<FormatOptions & MountFlag>(withFormat(list, ctx), ctx, async ({ args: [raw], opts, client }) => {
    const api = await client();
    const target = await resolveKvTarget(api, raw, opts.mount);
    const path = kvApiPath(target, "metadata");
    const body = await attempt(`listing ${path}`, () => api.list(path));
    return printKeys(ctx, path, body, opts);
  });

  const metadata = kv.command("metadata").description("a secret's metadata and versions (KV v2)");

  const metadataGet = kvCommand(metadata, "get", "show a secret's metadata and versions");
  defineAction<OutputOptions & MountFlag>(withOutput(metadataGet, ctx), ctx, async ({ args: [raw], opts, client }) => {
    const api = await client();
    const target = await resolveKvTarget(api, raw, opts.mount);
    if (!target.v2) throw new UsageError(`Metadata needs a KV version 2 engine; ${target.mount}/ is version 1`);
    const path = kvApiPath(target, "metadata");
    const body = await attempt(`reading ${path}`, () => api.read(path));
    if (!body || !isRecord(body.data)) return noValue(ctx, path);
    return printResponse(ctx, body, opts, (shown) => {
      const { versions, ...summary } = record(shown.data);
      const sections = [pathSection("Metadata Path", path), dataSection("Metadata", summary)];
      const byVersion = record(versions);
      for (const version of Object.keys(byVersion).sort((a, b) => Number(a) - Number(b))) {
        sections.push(dataSection(`Version ${version}`, record(byVersion[version])));
      }
      return sections.join("\n");
    });
  });

  const metadataDelete = kvCommand(metadata, "delete", "delete a secret with all its versions and metadata");
  defineAction<MountFlag>(metadataDelete, ctx, async ({ args: [raw], opts, client }) => {
    const api = await client();
    const target = await resolveKvTarget(api, raw, opts.mount);
    if (!target.v2) throw new UsageError(`Metadata needs a KV version 2 engine; ${target.mount}/ is version 1`);
    const path = kvApiPath(target, "metadata");
    await attempt(`deleting ${path}`, () => api.delete(path));
    return success(ctx, `Data deleted (if it existed) at: ${path}`);
  });
};
