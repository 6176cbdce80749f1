import { PassThrough, Readable } from "node:stream";
import { describe, expect, it, vi } from "vitest";
import { UsageError } from "./errors.js";
import { createInputSource, type CliStdin } from "./input.js";
import { captureStream } from "./test-support.js";

/** A stand-in terminal: a stream with isTTY and a recorded setRawMode. */
function fakeTerminal(): { stdin: CliStdin & PassThrough; rawModes: boolean[] } {
  const rawModes: boolean[] = [];
  const stdin = Object.assign(new PassThrough(), {
    isTTY: true,
    setRawMode: (mode: boolean) => rawModes.push(mode),
  });
  return { stdin, rawModes };
}

describe("input", () => {
  it("promptSecret on a terminal shows the prompt, hides typing, handles backspace and restores the mode", async () => {
    const { stdin, rawModes } = fakeTerminal();
    const stderr = captureStream(true);
    const answer = createInputSource(stdin, stderr).promptSecret("Unseal Key (will be hidden): ");
    stdin.write("kez");
    stdin.write("\u007fy-1\r");
    await expect(answer).resolves.toBe("key-1");
    expect(stderr.text).toBe("Unseal Key (will be hidden): \n");
    expect(rawModes).toEqual([true, false]);
  });

  it("promptSecret stops on Ctrl-C", async () => {
    const { stdin, rawModes } = fakeTerminal();
    const answer = createInputSource(stdin, captureStream(true)).promptSecret("Token: ");
    stdin.write("abc\u0003");
    await expect(answer).rejects.toThrow(UsageError);
    expect(rawModes).toEqual([true, false]);
  });

  it("promptSecret without a terminal reads the first line of stdin and prints no prompt", async () => {
    const stderr = captureStream();
    const input = createInputSource(Readable.from(["first\nsecond\n"]), stderr);
    await expect(input.promptSecret("Token: ")).resolves.toBe("first");
    expect(stderr.text).toBe("");
  });

  it("stdin is read once and shared", async () => {
    const stream = Readable.from(["data"]);
    const iterate = vi.spyOn(stream, Symbol.asyncIterator);
    const input = createInputSource(stream, captureStream());
    expect(await input.stdin()).toBe("data");
    expect(await input.stdin()).toBe("data");
    expect(iterate).toHaveBeenCalledTimes(1);
  });
});
