import { readFile } from "node:fs/promises";
import { UsageError } from "./errors.js";

/** What the CLI reads as stdin: a stream, possibly a terminal that can hide typed secrets. */
export type CliStdin = NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (mode: boolean) => unknown };

/** Where argument values come from besides argv: stdin (read once) and files. */
export interface InputSource {
  /** All of stdin; later calls get the same text. */
  stdin(): Promise<string>;
  file(path: string): Promise<string>;
  /** A secret from the user: typed unechoed on a terminal, else the first line of stdin. */
  promptSecret(question: string): Promise<string>;
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString("utf8");
}

function readHidden(stdin: NodeJS.ReadableStream, setRawMode: (mode: boolean) => unknown): Promise<string> {
  return new Promise((resolve, reject) => {
    let value = "";
    const finish = () => {
      stdin.removeListener("data", onData);
      setRawMode(false);
      stdin.pause();
    };
    const onData = (chunk: string | Buffer) => {
      for (const ch of chunk.toString()) {
        if (ch === "\r" || ch === "\n") {
          finish();
          resolve(value);
          return;
        }
        if (ch === "\u0003" || ch === "\u0004") {
          finish();
          reject(new UsageError("Interrupted."));
          return;
        }
        value = ch === "\u007f" || ch === "\b" ? value.slice(0, -1) : value + ch;
      }
    };
    setRawMode(true);
    stdin.on("data", onData);
    stdin.resume();
  });
}

const firstLine = (text: string) => (text.split(/\r?\n/)[0] ?? "").trim();

export function createInputSource(stdin: CliStdin, stderr: { write(chunk: string): unknown }): InputSource {
  let stdinText: Promise<string> | undefined;
  const readStdin = () => (stdinText ??= readAll(stdin));
  return {
    stdin: readStdin,
    async file(path) {
      try {
        return await readFile(path, "utf8");
      } catch (err) {
        const reason = err instanceof Error ? err.message : String(err);
        throw new UsageError(`Error reading file ${path}: ${reason}`);
      }
    },
    async promptSecret(question) {
      const { setRawMode } = stdin;
      if (stdin.isTTY && setRawMode) {
        stderr.write(question);
        const answer = await readHidden(stdin, (mode) => setRawMode.call(stdin, mode));
        stderr.write("\n");
        return answer.trim();
      }
      return firstLine(await readStdin());
    },
  };
}
