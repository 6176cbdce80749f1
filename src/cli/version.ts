import { readFile } from "node:fs/promises";
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
    ctx.out(`latchkey v${await packageVersion()}\n`);
  });
};
