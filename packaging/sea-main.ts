// The executable's entry point for every command but `agent` (packaging/sea-dispatch.cjs
// picks it). It does what src/cli/main.ts does, without top-level await: Node's
// single-executable support runs the bundle as CommonJS.
import { runCli } from "../src/cli/program.js";

void runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: process.env,
}).then((code) => {
  process.exitCode = code;
});
