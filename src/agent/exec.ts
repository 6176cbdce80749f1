import { spawn } from "node:child_process";
import { UsageError } from "../cli/errors.js";
import { AgentError, type AgentSession } from "./session.js";

export const REFERENCE_PREFIX = "latchkey:";

export interface EnvReference {
  variable: string;
  path: string;
  key: string;
}

/** The variables whose value is `latchkey:<API_PATH>#<KEY>`. */
export function findReferences(env: Readonly<Record<string, string | undefined>>): EnvReference[] {
  const refs: EnvReference[] = [];
  for (const [variable, value] of Object.entries(env)) {
    if (value === undefined || !value.startsWith(REFERENCE_PREFIX)) continue;
    const body = value.slice(REFERENCE_PREFIX.length);
    const hash = body.lastIndexOf("#");
    const path = hash > 0 ? body.slice(0, hash).replace(/^\/+/, "") : "";
    const key = hash > 0 ? body.slice(hash + 1) : "";
    if (path === "" || key === "") throw new UsageError(`${variable} must be latchkey:<API_PATH>#<KEY>, e.g. latchkey:secret/data/app#password`);
    refs.push({ variable, path, key });
  }
  return refs;
}

/** The environment with every reference replaced by its value; each secret is read once. */
export async function resolveEnv(
  env: Readonly<Record<string, string | undefined>>,
  session: Pick<AgentSession, "readSecret">,
): Promise<Record<string, string>> {
  const refs = findReferences(env);
  const resolved: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) if (value !== undefined) resolved[name] = value;
  const secrets = new Map<string, Record<string, unknown>>();
  for (const ref of refs) {
    let data = secrets.get(ref.path);
    if (data === undefined) {
      data = await session.readSecret(ref.path);
      secrets.set(ref.path, data);
    }
    const value = data[ref.key];
    if (value === undefined) throw new AgentError(`resolving ${ref.variable}`, `${ref.path} has no key ${ref.key}`, false);
    resolved[ref.variable] = typeof value === "string" ? value : JSON.stringify(value);
  }
  return resolved;
}

const FORWARDED: readonly NodeJS.Signals[] = ["SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGWINCH", "SIGCONT"];

/**
 * Node has no execve: the program runs as a child with inherited stdio, gets
 * every catchable signal this process receives, and its exit code (or signal,
 * re-raised) becomes this process's.
 */
export function runProgram(argv: readonly string[], env: Record<string, string>): Promise<number> {
  const [command, ...args] = argv;
  if (command === undefined) throw new UsageError("agent exec needs a program: latchkey agent exec -- PROGRAM ARGS...");
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: "inherit", env });
    const forward = (signal: NodeJS.Signals) => child.kill(signal);
    for (const signal of FORWARDED) process.on(signal, forward);
    const detach = () => {
      for (const signal of FORWARDED) process.off(signal, forward);
    };
    child.on("error", (err) => {
      detach();
      process.stderr.write(`latchkey agent exec: could not start ${command}: ${err.message}\n`);
      resolve(127);
    });
    child.on("exit", (code, signal) => {
      detach();
      if (signal !== null) {
        process.kill(process.pid, signal);
        // Still here if the signal is ignored or caught: exit as a shell would.
        resolve(128 + 15);
        return;
      }
      resolve(code ?? 1);
    });
  });
}
