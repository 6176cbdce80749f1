import { collectPairs, parseCount } from "./args.js";
import type { CommandGroup } from "./command.js";
import { registerMountCommands, type EnableFlags } from "./mounts.js";

interface SecretsEnableFlags extends EnableFlags {
  version?: number;
  options?: Record<string, string>;
}

/**
 * The mount request for a secrets engine type. `kv-v2` is `kv` with options
 * version "2", and `-version=N` sets options.version (the server reads it as a string).
 */
export function resolveEngine(typeArg: string, flags: SecretsEnableFlags): { type: string; options?: Record<string, string> } {
  const options: Record<string, string> = { ...(flags.options ?? {}) };
  let type = typeArg;
  if (typeArg === "kv-v2") {
    type = "kv";
    options.version = "2";
  }
  if (flags.version !== undefined) options.version = String(flags.version);
  return Object.keys(options).length > 0 ? { type, options } : { type };
}

/** `secrets enable|disable|list`: secrets engines under `sys/mounts`. */
export const registerSecrets: CommandGroup = (program, ctx) => {
  const secrets = program.command("secrets").description("enable, disable and list secrets engines");
  registerMountCommands<SecretsEnableFlags>(secrets, ctx, {
    api: "sys/mounts",
    noun: "secrets engine",
    enabledMessage: (type, path) => `Enabled the ${type} secrets engine at: ${path}`,
    extraOptions: (command) =>
      command
        .option("--version <n>", "engine version (kv: 2 for versioned secrets)", parseCount)
        .option("--options <key=value>", "engine option (repeatable)", collectPairs),
    resolve: resolveEngine,
  });
};
