import { chmod, readFile, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { createClient, type LatchkeyClient } from "./client.js";
import { UsageError } from "./errors.js";
import { createInputSource, type CliStdin, type InputSource } from "./input.js";

export const DEFAULT_ADDRESS = "http://127.0.0.1:8200";
export const TOKEN_FILE_NAME = ".latchkey-token";

export interface OutputStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
}

/** Everything the CLI touches outside itself, so tests run it in-process. */
export interface CliIO {
  stdout: OutputStream;
  stderr: OutputStream;
  stdin: CliStdin;
  env: Readonly<Record<string, string | undefined>>;
}

/** Options on the root command that every command honours. */
export interface GlobalOptions {
  address?: string;
  caCert?: string;
}

export interface CliContext {
  readonly io: CliIO;
  readonly input: InputSource;
  /** Set by the command that ran; returned by `runCli`. */
  exitCode: number;
  out(text: string): void;
  err(text: string): void;
  /** The client for this run, built on first use from -address/-ca-cert and the environment. */
  client(globals: GlobalOptions): Promise<LatchkeyClient>;
  /** `~/.latchkey-token`, following `HOME`. */
  tokenFile(): string;
  close(): Promise<void>;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value !== undefined && value.trim() !== "" ? value.trim() : undefined;
}

/** The saved token, if there is one. */
export async function readSavedToken(path: string): Promise<string | undefined> {
  try {
    return nonEmpty(await readFile(path, "utf8"));
  } catch (err) {
    if (typeof err === "object" && err !== null && "code" in err && err.code === "ENOENT") return undefined;
    throw new Error(`Error reading the token file ${path}: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    });
  }
}

/** Saves the token readable by its owner only (mode 0600, also when the file already existed). */
export async function saveToken(path: string, token: string): Promise<void> {
  await writeFile(path, token, { mode: 0o600 });
  await chmod(path, 0o600);
}

export function createContext(io: CliIO): CliContext {
  let client: Promise<LatchkeyClient> | undefined;
  const tokenFile = () => join(nonEmpty(io.env.HOME) ?? homedir(), TOKEN_FILE_NAME);

  async function buildClient(globals: GlobalOptions): Promise<LatchkeyClient> {
    const address = nonEmpty(globals.address) ?? nonEmpty(io.env.LATCHKEY_ADDR) ?? DEFAULT_ADDRESS;
    if (!/^https?:\/\/[^/]/.test(address)) {
      throw new UsageError(`Invalid address "${address}": expected http(s)://host:port`);
    }
    const caPath = nonEmpty(globals.caCert) ?? nonEmpty(io.env.LATCHKEY_CACERT);
    let caCert: string | undefined;
    if (caPath !== undefined) {
      try {
        caCert = await readFile(caPath, "utf8");
      } catch (err) {
        throw new Error(`Error loading the CA certificate ${caPath}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    const token = nonEmpty(io.env.LATCHKEY_TOKEN) ?? (await readSavedToken(tokenFile()));
    return createClient({ address, token, caCert });
  }

  return {
    io,
    input: createInputSource(io.stdin, io.stderr),
    exitCode: 0,
    out: (text) => io.stdout.write(text),
    err: (text) => io.stderr.write(text),
    client: (globals) => (client ??= buildClient(globals)),
    tokenFile,
    async close() {
      const built = await client?.catch(() => undefined);
      await built?.close();
    },
  };
}
