import { readFile } from "node:fs/promises";
import { BUILD_COMMIT, BUILD_DATE } from "../core/version.js";
import { defineAction, type CommandGroup } from "./command.js";

/** The package version; src/cli and dist/cli both sit two levels below package.json. */
export async function packageVersion(): Promise<string> {
  try {
    const parsed: unknown = JSON.parse(await readFile(new URL("../../package.json", import.meta.url), "utf8"));
    if (typeof parsed === "object" && parsed !== null && "version" in parsed && typeof parsed.version === "string") {
      return parsed.version;
    }
  } catch {
    // an unusual install layout: report the version as unknown rather than fail
  }
  return "unknown";
}

export const registerVersion: CommandGroup = (program, ctx) => {
  const version = program.command("version").description("print the latchkey version");
  defineAction(version, ctx, async () => {
    // Vault's shape: `Vault v1.15.0 (<commit>), built <date>`, each part only when known.
    const commit = BUILD_COMMIT ? ` (${BUILD_COMMIT})` : "";
    const built = BUILD_DATE ? `, built ${BUILD_DATE}` : "";
    ctx.out(`latchkey v${await packageVersion()}${commit}${built}\n`);
  });
};
