import type { CommandGroup } from "./command.js";
import { attachK8sLogin } from "./k8s-login.js";
import { registerMountCommands, type EnableFlags } from "./mounts.js";

/** `auth enable|disable|list`: auth methods under `sys/auth`; `auth --access-type k8s`: a pod's login. */
export const registerAuth: CommandGroup = (program, ctx) => {
  const auth = program.command("auth").description("enable, disable and list auth methods; log in from a pod (--access-type k8s)");
  registerMountCommands<EnableFlags>(auth, ctx, {
    api: "sys/auth",
    noun: "auth method",
    enabledMessage: (type, path) => `Enabled ${type} auth method at: ${path}`,
  });
  attachK8sLogin(auth, ctx);
};
