import { access } from "node:fs/promises";
import { dirname } from "node:path";
import { Command } from "commander";
import { buildConfig, type AgentFlags } from "../agent/config.js";
import { copyAgent } from "../agent/copy.js";
import { resolveEnv, runProgram } from "../agent/exec.js";
import { runAgent } from "../agent/run.js";
import { AgentError, openSession } from "../agent/session.js";
import type { CliContext } from "./context.js";
import { UsageError } from "./errors.js";
import { POD_TOKEN_PATH } from "./k8s-login.js";

const collect = (value: string, previous: string[]) => [...previous, value];

interface LoginFlags {
  addr?: string;
  caFile?: string;
  authPath: string;
  role?: string;
  tokenFile: string;
}

function withLoginFlags(command: Command, ctx: CliContext): Command {
  return command
    .option("--addr <url>", "latchkey's address (default: LATCHKEY_ADDR)", ctx.io.env.LATCHKEY_ADDR)
    .option("--ca-file <path>", "PEM file of the server's CA")
    .option("--auth-path <path>", "mount of the kubernetes auth method", "auth/kubernetes")
    .option("--role <name>", "role to log in as")
    .option("--token-file <path>", "the pod's service-account token", POD_TOKEN_PATH);
}

/** One line on stderr, never a secret: messages carry paths and steps only. */
function agentLog(ctx: CliContext): (line: string) => void {
  return (line) => ctx.err(`${new Date().toISOString()} latchkey agent: ${line}\n`);
}

async function failing(ctx: CliContext, call: () => Promise<number>): Promise<number> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof AgentError) {
      ctx.err(`latchkey agent: error ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

/**
 * `latchkey agent`: the in-pod agent the injector adds (init container, sidecar,
 * `exec` wrapper). Its subcommands reuse agent's flag names (`ready --file`,
 * `exec --role`), which commander allows only with positional options on the
 * whole program; the agent has its own parser instead, so the rest of the CLI
 * keeps taking global options anywhere.
 */
export function registerAgent(program: Command, ctx: CliContext): void {
  program
    .command("agent")
    .description("render secrets into files in a pod (init or sidecar); agent exec|ready|copy")
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .argument("[flags...]")
    .action(async (argv: string[]) => {
      const parser = agentProgram(ctx)
        .exitOverride()
        .configureOutput({ writeOut: (text) => ctx.out(text), writeErr: (text) => ctx.err(text) });
      await parser.parseAsync(argv, { from: "user" });
    });
}

function agentProgram(ctx: CliContext): Command {
  const agent = withLoginFlags(new Command("agent").description("render secrets into files in a pod (init or sidecar)"), ctx)
    .option("--mode <mode>", "init (render once and exit) or sidecar (keep files fresh)", "init")
    .option("--secrets-dir <dir>", "directory of the rendered files", "/latchkey/secrets")
    .option("--secret <NAME=API_PATH>", "a secret to render into <secrets-dir>/NAME (repeatable)", collect, [])
    .option("--template <NAME=TEXT>", "template over { data } for NAME's file (repeatable)", collect, [])
    .option("--file <NAME=DEST_PATH>", "write NAME's file here instead (repeatable)", collect, [])
    .option("--perms <NAME=MODE>", "octal mode of NAME's file, default 0640 (repeatable)", collect, [])
    .option("--refresh-interval <duration>", "sidecar: how often to re-read", "5m")
    .option("--on-change <action>", "sidecar: SIGNAL, http(s):// URL to POST to, or exec:<command>")
    .option("--signal-process <name>", "base name of the processes the on-change signal goes to")
    .option("--ready-file <path>", "written once the first render succeeded");
  agent.action(async () => {
    const config = buildConfig(agent.opts<AgentFlags>());
    const stop = new AbortController();
    const onStop = () => stop.abort();
    process.once("SIGTERM", onStop);
    process.once("SIGINT", onStop);
    try {
      ctx.exitCode = await failing(ctx, async () => {
        await runAgent(config, { log: agentLog(ctx) }, stop.signal);
        return 0;
      });
    } finally {
      process.off("SIGTERM", onStop);
      process.off("SIGINT", onStop);
    }
  });

  // agent's own flags stop at a subcommand, so `agent ready --file` and `agent exec --role` are the subcommand's.
  agent.enablePositionalOptions();
  withLoginFlags(agent.command("exec").description("resolve latchkey:<path>#<key> environment values, then run PROGRAM"), ctx)
    .argument("<program...>", "the program and its arguments, after --")
    .action(async (argv: string[], _opts: unknown, command: Command) => {
      const flags = command.opts<LoginFlags>();
      if (!flags.addr) throw new UsageError("--addr (or LATCHKEY_ADDR) is required");
      if (!flags.role) throw new UsageError("--role is required");
      const role = flags.role;
      const addr = flags.addr;
      ctx.exitCode = await failing(ctx, async () => {
        const env = { ...ctx.io.env };
        const session = await openSession({ ...flags, addr, role, authPath: flags.authPath.replace(/^\/+|\/+$/g, "") });
        let resolved: Record<string, string>;
        try {
          await session.ensureToken(0);
          resolved = await resolveEnv(env, session);
        } finally {
          await session.close();
        }
        return runProgram(argv, resolved);
      });
    });

  agent
    .command("ready")
    .description("exit 0 if the ready file exists (the native sidecar's startup probe)")
    .requiredOption("--file <path>", "the agent's --ready-file")
    .action(async (opts: { file: string }) => {
      ctx.exitCode = await access(opts.file).then(
        () => 0,
        () => 1,
      );
    });

  agent
    .command("copy")
    .description("copy this executable's directory into DIR (the injector's copy init container)")
    .requiredOption("--to <dir>", "destination directory")
    .action(async (opts: { to: string }) => {
      const from = dirname(process.execPath);
      await copyAgent(from, opts.to);
      ctx.out(`copied ${from} to ${opts.to}\n`);
    });
  return agent;
}
