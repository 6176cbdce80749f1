import {
  defineAction,
  printKeys,
  success,
  withFormat,
  type CommandGroup,
  type FormatOptions,
} from "./command.js";
import { UsageError, attempt } from "./errors.js";
import { formatStructured, isRecord } from "./output.js";

const policyPath = (name: string) => `sys/policies/acl/${name}`;

/** `policy write|read|list|delete`: ACL policies. */
export const registerPolicy: CommandGroup = (program, ctx) => {
  const policy = program.command("policy").description("manage ACL policies");

  const write = policy
    .command("write")
    .description("upload a policy (HCL or JSON) from a file, or from stdin with -")
    .argument("<name>")
    .argument("<file>", "policy file, or - for stdin");
  defineAction(write, ctx, async ({ args: [name, file], client }) => {
    const text = file === "-" ? await ctx.input.stdin() : await ctx.input.file(file);
    if (text.trim() === "") throw new UsageError("The policy is empty");
    const api = await client();
    await attempt(`uploading policy ${name}`, () => api.request({ method: "PUT", path: policyPath(name), body: { policy: text } }));
    return success(ctx, `Uploaded policy: ${name}`);
  });

  const read = policy.command("read").description("print a policy").argument("<name>");
  defineAction<FormatOptions>(withFormat(read, ctx), ctx, async ({ args: [name], opts, client }) => {
    const api = await client();
    const body = await attempt(`reading policy ${name}`, () => api.read(policyPath(name)));
    const text = body && isRecord(body.data) ? body.data.policy : undefined;
    if (!body || typeof text !== "string") {
      ctx.err(`No policy named: ${name}\n`);
      return 2;
    }
    ctx.out(opts.format === "table" ? (text.endsWith("\n") ? text : `${text}\n`) : formatStructured(body, opts.format));
    return 0;
  });

  const list = policy.command("list").description("list policy names");
  defineAction<FormatOptions>(withFormat(list, ctx), ctx, async ({ opts, client }) => {
    const api = await client();
    const body = await attempt("listing policies", () => api.list("sys/policies/acl"));
    const keys = body && isRecord(body.data) && Array.isArray(body.data.keys) ? body.data.keys : [];
    if (opts.format !== "table") return printKeys(ctx, "sys/policies/acl", body, opts);
    ctx.out(keys.map((key) => `${String(key)}\n`).join(""));
    return 0;
  });

  const remove = policy.command("delete").description("delete a policy").argument("<name>");
  defineAction(remove, ctx, async ({ args: [name], client }) => {
    const api = await client();
    await attempt(`deleting policy ${name}`, () => api.delete(policyPath(name)));
    return success(ctx, `Deleted policy: ${name}`);
  });
};
