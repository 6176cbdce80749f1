import { Option } from "commander";
import { defineAction, type CommandGroup } from "./command.js";
import { attempt } from "./errors.js";

interface ServerFlags {
  config?: string;
  dev?: boolean;
  devRootToken?: string;
  devRootTokenId?: string;
  listen?: string;
  devListenAddress?: string;
  logLevel?: string;
}

/** `server`: runs the gateway in this process; the server code loads only for this command. */
export const registerServer: CommandGroup = (program, ctx) => {
  const server = program
    .command("server")
    .description("run the latchkey server")
    .option("--config <file>", "configuration file (YAML)")
    .option("--dev", "development mode: in-memory, initialized, unsealed, secret/ mounted")
    .option("--dev-root-token <id>", "root token id in development mode")
    .option("--listen <host:port>", "address to listen on")
    .option("--log-level <level>", "trace, debug, info, warn or error")
    .addOption(new Option("--dev-root-token-id <id>").hideHelp())
    .addOption(new Option("--dev-listen-address <host:port>").hideHelp());
  defineAction<ServerFlags>(server, ctx, async ({ opts }) => {
    const { runServer } = await import("../server/main.js");
    await attempt("running the server", () =>
      runServer({
        config: opts.config,
        dev: opts.dev,
        devRootToken: opts.devRootToken ?? opts.devRootTokenId,
        listen: opts.listen ?? opts.devListenAddress,
        logLevel: opts.logLevel,
      }),
    );
  });
};
