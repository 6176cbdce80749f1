import { parseCount } from "./args.js";
import { defineAction, success, withFormat, type CommandGroup, type FormatOptions } from "./command.js";
import { UsageError, attempt } from "./errors.js";
import { asStringArray, formatStructured, formatValue } from "./output.js";
import { printSealStatus } from "./status.js";

interface InitOptions extends FormatOptions {
  keyShares: number;
  keyThreshold: number;
  status?: boolean;
}

function initMessage(shares: number, threshold: number): string {
  return [
    `latchkey initialized with ${shares} key shares and a key threshold of ${threshold}. Distribute`,
    "the key shares printed above to different people and keep them safe. Whenever",
    `latchkey is sealed, restarted or stopped, ${threshold} of these keys are needed to unseal it.`,
    "",
    "latchkey does not store the root key. Without enough key shares to rebuild it,",
    "latchkey stays sealed for good.",
  ].join("\n");
}

/** `operator init|unseal|seal`: bringing a server into service. */
export const registerOperator: CommandGroup = (program, ctx) => {
  const operator = program.command("operator").description("initialize, unseal and seal the server");

  const init = operator
    .command("init")
    .description("initialize a new server: prints the unseal keys and the initial root token")
    .option("--key-shares <n>", "number of unseal key shares", parseCount, 5)
    .option("--key-threshold <n>", "number of shares needed to unseal", parseCount, 3)
    .option("--status", "only report whether the server is initialized (exit 0 yes, 2 no)");
  defineAction<InitOptions>(withFormat(init, ctx), ctx, async ({ opts, client }) => {
    const api = await client();
    if (opts.status) {
      const body = await attempt("checking init status", () => api.request({ method: "GET", path: "sys/init" }));
      const initialized = body?.initialized === true;
      ctx.out(`latchkey is ${initialized ? "" : "not "}initialized\n`);
      return initialized ? 0 : 2;
    }
    if (opts.keyThreshold < 1 || opts.keyThreshold > opts.keyShares) {
      throw new UsageError("-key-threshold must be between 1 and -key-shares");
    }
    const body =
      (await attempt("initializing", () =>
        api.request({
          method: "PUT",
          path: "sys/init",
          body: { secret_shares: opts.keyShares, secret_threshold: opts.keyThreshold },
        }),
      )) ?? {};
    const hex = asStringArray(body.keys);
    const base64 = asStringArray(body.keys_base64);
    if (opts.format !== "table") {
      const result = {
        unseal_keys_b64: base64,
        unseal_keys_hex: hex,
        unseal_shares: opts.keyShares,
        unseal_threshold: opts.keyThreshold,
        root_token: body.root_token,
      };
      ctx.out(formatStructured(result, opts.format));
      return 0;
    }
    const shown = base64.length > 0 ? base64 : hex;
    const lines = shown.map((key, i) => `Unseal Key ${i + 1}: ${key}`);
    lines.push("", `Initial Root Token: ${formatValue(body.root_token)}`, "", initMessage(opts.keyShares, opts.keyThreshold));
    ctx.out(`${lines.join("\n")}\n`);
    return 0;
  });

  const unseal = operator
    .command("unseal")
    .description("provide one unseal key share (argument, - for stdin, or prompted)")
    .argument("[key]")
    .option("--reset", "discard the key shares provided so far");
  defineAction<FormatOptions & { reset?: boolean }>(withFormat(unseal, ctx), ctx, async ({ args: [keyArg], opts, client }) => {
    let body: Record<string, unknown>;
    if (opts.reset) {
      if (keyArg !== undefined) throw new UsageError("-reset takes no key");
      body = { reset: true };
    } else {
      const key = keyArg === undefined || keyArg === "-" ? await ctx.input.promptSecret("Unseal Key (will be hidden): ") : keyArg;
      if (key === "") throw new UsageError("No unseal key given");
      body = { key };
    }
    const api = await client();
    const status = await attempt("unsealing", () => api.request({ method: "PUT", path: "sys/unseal", body }));
    printSealStatus(ctx, status ?? {}, opts);
    return 0;
  });

  const seal = operator.command("seal").description("seal the server: it stops serving until unsealed again");
  defineAction(seal, ctx, async ({ client }) => {
    const api = await client();
    await attempt("sealing", () => api.request({ method: "PUT", path: "sys/seal" }));
    return success(ctx, "latchkey is sealed.");
  });
};
