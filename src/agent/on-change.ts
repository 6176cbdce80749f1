import { spawn } from "node:child_process";
import { readFile, readdir } from "node:fs/promises";
import { basename } from "node:path";
import { sendHttp } from "../cli/client.js";
import type { OnChange } from "./config.js";

/** PIDs whose executable (argv[0] of /proc/PID/cmdline, else comm) has the base name `name`. */
export async function findProcesses(name: string, procRoot = "/proc"): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir(procRoot)) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    try {
      const cmdline = await readFile(`${procRoot}/${entry}/cmdline`, "utf8");
      const argv0 = cmdline.split("\0")[0] ?? "";
      const comm = argv0 === "" ? (await readFile(`${procRoot}/${entry}/comm`, "utf8")).trim() : basename(argv0);
      if (comm === name) pids.push(pid);
    } catch {
      // the process ended while the list was read
    }
  }
  return pids;
}

export interface OnChangeContext {
  signalProcess?: string;
  log(line: string): void;
}

/** Runs the action once; failures are logged, never fatal: the files are already written. */
export async function runOnChange(action: OnChange, changed: readonly string[], ctx: OnChangeContext): Promise<void> {
  if (action.kind === "signal") {
    if (ctx.signalProcess === undefined) return ctx.log(`on-change ${action.signal}: no --signal-process given, nothing signalled`);
    const pids = await findProcesses(ctx.signalProcess);
    for (const pid of pids) {
      try {
        process.kill(pid, action.signal);
      } catch (err) {
        ctx.log(`on-change: could not signal ${pid}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    return ctx.log(`on-change: sent ${action.signal} to ${pids.length} ${ctx.signalProcess} process(es)`);
  }
  if (action.kind === "http") {
    try {
      const answer = await sendHttp(action.url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ changed }),
        timeoutMs: 10_000,
      });
      return ctx.log(`on-change: POST ${action.url} answered ${answer.status}`);
    } catch (err) {
      return ctx.log(`on-change: POST ${action.url} failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  const [command, ...args] = action.argv;
  await new Promise<void>((resolve) => {
    const child = spawn(command ?? "", args, { stdio: ["ignore", "inherit", "inherit"] });
    child.on("error", (err) => {
      ctx.log(`on-change: ${command} could not start: ${err.message}`);
      resolve();
    });
    child.on("exit", (code, signal) => {
      ctx.log(`on-change: ${command} exited with ${signal ?? code}`);
      resolve();
    });
  });
}
