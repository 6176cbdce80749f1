import { ApiError, ConnectionError } from "./client.js";

/** Wrong arguments or flags: exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** A failed step of a command; printed as `Error <action>: <cause>` with exit code 1. */
export class CommandError extends Error {
  constructor(
    readonly action: string,
    cause: unknown,
  ) {
    super(`Error ${action}`, { cause });
    this.name = "CommandError";
  }
}

/** Runs one server call, labelling its failure with what the command was doing ("reading secret/foo"). */
export async function attempt<T>(action: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof UsageError || err instanceof CommandError) throw err;
    throw new CommandError(action, err);
  }
}

/** The multi-line explanation of a failure, as printed after `Error <action>: `. */
export function describeFailure(err: unknown): string {
  if (err instanceof ApiError) {
    const lines = ["Error making API request.", "", `URL: ${err.method} ${err.url}`];
    if (err.errors.length > 0) {
      lines.push(`Code: ${err.status}. Errors:`, "", ...err.errors.map((message) => `* ${message}`));
    } else {
      lines.push(`Code: ${err.status}. Raw Message:`, "", err.raw);
    }
    return lines.join("\n");
  }
  if (err instanceof ConnectionError) return `${err.message}\n\n${err.hint}`;
  if (err instanceof Error) return err.message;
  return String(err);
}

/** Prints a failure to stderr and returns the exit code. */
export function reportFailure(err: unknown, stderr: { write(chunk: string): unknown }): number {
  if (err instanceof UsageError) {
    stderr.write(`${err.message}\n`);
    return 2;
  }
  if (err instanceof CommandError) {
    stderr.write(`${err.message}: ${describeFailure(err.cause)}\n`);
    return 1;
  }
  stderr.write(`Error: ${describeFailure(err)}\n`);
  return 1;
}
