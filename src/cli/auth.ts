import type { CommandGroup } from "./command.js";
import { registerMountCommands, type EnableFlags } from "./mounts.js";

/** `auth enable|disable|list`: auth methods under `sys/auth`. */
export const registerAuth: CommandGroup = (program, ctx) => {
  const auth = program.command("auth").description("enable, disable and list auth methods");
  registerMountCommands<EnableFlags>(auth, ctx, {
    api: "sys/auth",
    noun: "auth method",
    enabledMessage: (type, path) => `Enabled ${type} auth method at: ${path}`,
  });
};
