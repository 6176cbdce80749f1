import { Command, CommanderError } from "commander";
import { longOptionNames, normaliseArgv } from "./args.js";
import type { CommandGroup } from "./command.js";
import { createContext, type CliContext, type CliIO } from "./context.js";
import { reportFailure } from "./errors.js";

/**
 * Running the CLI with a given set of command groups. Kept apart from
 * program.ts, which imports every group, so that the packaged agent's own
 * bundle (packaging/agent-main.ts) carries only the agent's code.
 */

/**
 * The commander program wired to `io`: output goes to io.stdout/io.stderr and
 * parse errors throw instead of exiting, so tests run it in-process.
 */
export function buildProgram(ctx: CliContext, groups: readonly CommandGroup[]): Command {
  const program = new Command("latchkey")
    .description("latchkey: secrets gateway for Kubernetes (server and command-line client)")
    .option("--address <url>", "server address (default: LATCHKEY_ADDR or http://127.0.0.1:8200)")
    .option("--ca-cert <file>", "PEM file of the CA to trust for https (default: LATCHKEY_CACERT)")
    .exitOverride()
    .showHelpAfterError("(add --help for usage)")
    .addHelpText(
      "after",
      "\nLong options also take one dash (-format=json, -field=token), and flags take =true/=false.\n" +
        "Environment: LATCHKEY_ADDR, LATCHKEY_TOKEN (else ~/.latchkey-token), LATCHKEY_CACERT, LATCHKEY_FORMAT.",
    )
    .configureOutput({
      writeOut: (text) => ctx.io.stdout.write(text),
      writeErr: (text) => ctx.io.stderr.write(text),
    });
  // Subcommands copy the settings above when they are created.
  for (const register of groups) register(program, ctx);
  return program;
}

function commanderExitCode(err: CommanderError): number {
  if (err.code === "commander.helpDisplayed" || err.code === "commander.version") return 0;
  return 2;
}

/** Runs the CLI with `argv` (without node and script) and resolves to the exit code. */
export async function runCli(argv: readonly string[], io: CliIO, groups: readonly CommandGroup[]): Promise<number> {
  const ctx = createContext(io);
  const program = buildProgram(ctx, groups);
  try {
    // `latchkey --version` and `-v`, as Vault's CLI takes them, are the version command.
    const args = argv.length === 1 && (argv[0] === "--version" || argv[0] === "-v") ? ["version"] : argv;
    await program.parseAsync(normaliseArgv(args, longOptionNames(program)), { from: "user" });
    return ctx.exitCode;
  } catch (err) {
    if (err instanceof CommanderError) return commanderExitCode(err);
    return reportFailure(err, io.stderr);
  } finally {
    await ctx.close();
  }
}
