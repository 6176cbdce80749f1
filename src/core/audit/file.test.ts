import { mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createFileAuditDevice, parseFileMode } from "./file.js";
import { hashValue } from "./hash.js";

const salt = new Uint8Array(32).fill(7);
let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "latchkey-audit-file-"));
});
afterEach(async () => {
  vi.restoreAllMocks();
  await rm(dir, { recursive: true, force: true });
});

describe("file audit device", () => {
  it("creates the log 0600 and appends one line per entry, after what is there", async () => {
    const filePath = join(dir, "audit.log");
    await writeFile(filePath, '{"earlier":true}\n', { mode: 0o644 });
    const device = createFileAuditDevice({ path: filePath, salt });
    await device.open();
    await device.write('{"n":1}');
    await device.close();
    expect(await readFile(filePath, "utf8")).toBe('{"earlier":true}\n{"n":1}\n');
    expect((await stat(filePath)).mode & 0o777).toBe(0o600);
  });

  it("honours a configured mode", async () => {
    const filePath = join(dir, "audit.log");
    const device = createFileAuditDevice({ path: filePath, salt, mode: 0o640 });
    await device.write("{}");
    await device.close();
    expect((await stat(filePath)).mode & 0o777).toBe(0o640);
    expect(device.options).toEqual({ file_path: filePath, mode: "0640" });
  });

  it("keeps lines whole and in order under concurrent writes", async () => {
    const filePath = join(dir, "audit.log");
    const device = createFileAuditDevice({ path: filePath, salt });
    const pad = "x".repeat(5000);
    await Promise.all(Array.from({ length: 500 }, (_, i) => device.write(JSON.stringify({ i, pad }))));
    await device.close();
    const lines = (await readFile(filePath, "utf8")).trimEnd().split("\n");
    expect(lines.map((l) => (JSON.parse(l) as { i: number }).i)).toEqual(Array.from({ length: 500 }, (_, i) => i));
  });

  it("writes to a fresh file after rotation and reopen", async () => {
    const filePath = join(dir, "audit.log");
    const device = createFileAuditDevice({ path: filePath, salt });
    await device.write('{"before":1}');
    await rename(filePath, filePath + ".1");
    await device.reopen();
    await device.write('{"after":1}');
    await device.close();
    expect(await readFile(filePath + ".1", "utf8")).toBe('{"before":1}\n');
    expect(await readFile(filePath, "utf8")).toBe('{"after":1}\n');
  });

  it("reports a write that cannot be done, and recovers once it can", async () => {
    const filePath = join(dir, "logs", "audit.log");
    const device = createFileAuditDevice({ path: filePath, salt });
    await expect(device.write("{}")).rejects.toThrow(/ENOENT/);
    await mkdir(join(dir, "logs"));
    await device.write('{"ok":1}');
    await device.close();
    expect(await readFile(filePath, "utf8")).toBe('{"ok":1}\n');
  });

  it("writes to stdout when the path is stdout", async () => {
    const written: string[] = [];
    vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array, ...rest: unknown[]) => {
      written.push(String(chunk));
      const callback = rest.find((r): r is (err?: Error | null) => void => typeof r === "function");
      callback?.();
      return true;
    });
    const device = createFileAuditDevice({ path: "stdout", salt });
    await device.open();
    await device.write('{"to":"stdout"}');
    expect(written).toEqual(['{"to":"stdout"}\n']);
  });

  it("hashes with its salt and refuses a short salt", () => {
    const device = createFileAuditDevice({ path: "discard", salt });
    expect(device.hash("value")).toBe(hashValue(salt, "value"));
    expect(() => createFileAuditDevice({ path: "discard", salt: new Uint8Array(8) })).toThrow(
      "audit device salt must be at least 16 bytes",
    );
  });
});

describe("file audit device options", () => {
  it.each([
    ["0600", 0o600, "0600"],
    ["640", 0o640, "0640"],
    ["0000", 0, "0000"],
    ["00644", 0o644, "0644"],
  ])("reads mode %s as octal", (text, mode, canonical) => {
    expect(parseFileMode(text)).toEqual({ mode, text: canonical });
  });

  it.each([["abc"], ["0999"], ["8"], [""], ["-600"], ["04755"], ["0x1ff"], [600], [null]])("refuses mode %o with 400", (value) => {
    expect(() => parseFileMode(value)).toThrow(
      expect.objectContaining({ status: 400, message: 'audit option "mode" must be an octal file mode such as "0600"' }),
    );
  });

  it("refuses to open a directory with 400 naming file_path", async () => {
    const device = createFileAuditDevice({ path: dir, salt });
    await expect(device.open()).rejects.toMatchObject({
      status: 400,
      message: `audit option "file_path" ${JSON.stringify(dir)} is a directory (EISDIR)`,
    });
  });

  it("refuses a file in a missing directory with 400 naming file_path", async () => {
    const filePath = join(dir, "missing", "audit.log");
    const device = createFileAuditDevice({ path: filePath, salt });
    await expect(device.open()).rejects.toMatchObject({
      status: 400,
      message: `audit option "file_path" ${JSON.stringify(filePath)} is in a directory that does not exist (ENOENT)`,
    });
  });

  it("refuses a file under a plain file with 400", async () => {
    await writeFile(join(dir, "plain"), "");
    const device = createFileAuditDevice({ path: join(dir, "plain", "audit.log"), salt });
    await expect(device.open()).rejects.toMatchObject({ status: 400, message: expect.stringMatching(/\(ENOTDIR\)$/) });
  });
});
