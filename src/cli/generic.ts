import { parseKeyValues, toQuery, trimSlashes } from "./args.js";
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
import { UsageError, attempt } from "./errors.js";
import { isRecord } from "./output.js";

const DATA_HELP = "key=value pairs; a value @file reads the file, - reads stdin; a lone - is a JSON object on stdin";

/** `read`, `write`, `list`, `delete`: any API path, for whatever no dedicated command covers. */
export const registerGeneric: CommandGroup = (program, ctx) => {
  const read = program
    .command("read")
    .description("read data at a path (GET /v1/<path>); key=value pairs become query parameters")
    .argument("<path>")
    .argument("[key=value...]", DATA_HELP);
  defineAction<OutputOptions>(withOutput(read, ctx), ctx, async ({ args: [raw, ...pairs], opts, client }) => {
    const path = trimSlashes(raw);
    const query = toQuery(await parseKeyValues(pairs, ctx.input));
    const api = await client();
    const body = await attempt(`reading ${path}`, () => api.read(path, query));
    if (!body) return noValue(ctx, path);
    return printResponse(ctx, body, opts);
  });

  const write = program
    .command("write")
    .description("write data to a path (PUT /v1/<path>)")
    .argument("<path>")
    .argument("[key=value...]", DATA_HELP)
    .option("--force", "write even without any data");
  defineAction<OutputOptions & { force?: boolean }>(withOutput(write, ctx), ctx, async ({ args: [raw, ...pairs], opts, client }) => {
    const path = trimSlashes(raw);
    const data = await parseKeyValues(pairs, ctx.input);
    if (Object.keys(data).length === 0 && !opts.force) throw new UsageError("Must supply data or use -force");
    const api = await client();
    const body = await attempt(`writing data to ${path}`, () => api.write(path, data));
    if (!body || (!isRecord(body.data) && !isRecord(body.auth))) {
      return success(ctx, `Data written to: ${path}`, body);
    }
    return printResponse(ctx, body, opts);
  });

  const list = program.command("list").description("list keys under a path (LIST /v1/<path>)").argument("<path>");
  defineAction<FormatOptions>(withFormat(list, ctx), ctx, async ({ args: [raw], opts, client }) => {
    const path = trimSlashes(raw);
    const api = await client();
    const body = await attempt(`listing ${path}`, () => api.list(path));
    return printKeys(ctx, path, body, opts);
  });

  const remove = program
    .command("delete")
    .description("delete data at a path (DELETE /v1/<path>); key=value pairs become query parameters")
    .argument("<path>")
    .argument("[key=value...]", DATA_HELP);
  defineAction(remove, ctx, async ({ args: [raw, ...pairs], client }) => {
    const path = trimSlashes(raw);
    const query = toQuery(await parseKeyValues(pairs, ctx.input));
    const api = await client();
    const body = await attempt(`deleting ${path}`, () => api.delete(path, query));
    return success(ctx, `Data deleted (if it existed) at: ${path}`, body);
  });
};
