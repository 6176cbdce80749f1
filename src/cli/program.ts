import type { Command } from "commander";
import { registerAgent } from "./agent.js";
import { registerAuth } from "./auth.js";
import type { CommandGroup } from "./command.js";
import type { CliContext, CliIO } from "./context.js";
import { registerGeneric } from "./generic.js";
import { registerInjector } from "./injector.js";
import { registerK8sAuthMethod } from "./k8s-auth-method.js";
import { registerK8sCerts } from "./k8s-certs.js";
import { registerK8sDynamicSecret } from "./k8s-dynamic-secret.js";
import { registerK8sGatewayConfig } from "./k8s-gateway-config.js";
import { registerKv } from "./kv.js";
import { registerLogin } from "./login.js";
import { registerOperator } from "./operator.js";
import { registerPolicy } from "./policy.js";
import { registerSecrets } from "./secrets.js";
import { registerServer } from "./server.js";
import { registerStatus } from "./status.js";
import { registerToken } from "./token.js";
import { buildProgram as buildWith, runCli as runWith } from "./runner.js";
import { registerVersion } from "./version.js";

/** Every command group, in the order `latchkey --help` lists them. Add a group here. */
export const COMMAND_GROUPS: readonly CommandGroup[] = [
  registerServer,
  registerOperator,
  registerStatus,
  registerLogin,
  registerGeneric,
  registerToken,
  registerPolicy,
  registerAuth,
  registerK8sAuthMethod,
  registerK8sGatewayConfig,
  registerK8sDynamicSecret,
  registerK8sCerts,
  registerSecrets,
  registerKv,
  registerInjector,
  registerVersion,
  registerAgent,
];

/** The commander program with every command group (or `groups`), wired to `io`. */
export function buildProgram(ctx: CliContext, groups: readonly CommandGroup[] = COMMAND_GROUPS): Command {
  return buildWith(ctx, groups);
}

/** Runs the CLI with `argv` (without node and script) and resolves to the exit code. */
export function runCli(argv: readonly string[], io: CliIO, groups: readonly CommandGroup[] = COMMAND_GROUPS): Promise<number> {
  return runWith(argv, io, groups);
}
