// The packaged executable's entry point for `latchkey agent`: the agent's
// command group alone, so that a sidecar loads none of the server's, the
// injector's or the rest of the CLI's code (see packaging/sea-dispatch.cjs).
import { registerAgent } from "../src/cli/agent.js";
import { runCli } from "../src/cli/runner.js";

void runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: process.env,
}, [registerAgent]).then((code) => {
  process.exitCode = code;
});
