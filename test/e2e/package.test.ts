import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const REPO = fileURLToPath(new URL("../..", import.meta.url));
const ROOT = "lks.package-root-token";

// `npm run package` takes under 10 s, so the suite always builds the executable
// afresh from the sources under test rather than trusting an older dist-bin/.
describe("the single executable (npm run package)", () => {
  let dir: string;
  let exe: string;
  let server: ChildProcess | undefined;

  /** An environment with no Node.js to find: PATH leads nowhere and nothing else is inherited. */
  const bare = (extra: Record<string, string> = {}) => ({ PATH: "/nonexistent", HOME: dir, ...extra });
  const run = (args: string[], env: Record<string, string>) =>
    spawnSync(exe, args, { cwd: dir, env, encoding: "utf8", timeout: 30_000 });

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "latchkey-package-"));
    exe = join(dir, "latchkey/latchkey");
  });
  afterAll(() => {
    server?.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });

  // A test rather than a hook, so that a packaging failure counts as a failed test in the report.
  it("builds dist-bin/latchkey/ with the executable and the SQLite addon beside it", () => {
    const packaged = spawnSync("npm", ["run", "package"], { cwd: REPO, encoding: "utf8", timeout: 110_000 });
    expect(packaged.status, `npm run package failed:\n${packaged.stdout}${packaged.stderr}`).toBe(0);
    expect(statSync(join(REPO, "dist-bin/latchkey/latchkey")).mode & 0o111).toBe(0o111);
    expect(statSync(join(REPO, "dist-bin/latchkey/lib/better_sqlite3.node")).isFile()).toBe(true);
    // Copied the way an init container copies it: the layout alone, in a directory with no node_modules above it.
    cpSync(join(REPO, "dist-bin/latchkey"), join(dir, "latchkey"), { recursive: true });
  }, 120_000);

  it("prints the package's version", () => {
    const { version } = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as { version: string };
    const res = run(["version"], bare());
    expect(res.stderr).toBe("");
    expect(res.stdout).toBe(`latchkey v${version}\n`);
    expect(res.status).toBe(0);
  });

  it("runs a dev server on its bundled SQLite and its own CLI writes and reads a KV secret through it", async () => {
    const proc = spawn(exe, ["server", "--dev", "--dev-root-token", ROOT, "--dev-listen-address", "127.0.0.1:0"], {
      cwd: dir,
      env: bare(),
      stdio: ["ignore", "pipe", "pipe"],
    });
    server = proc;
    let out = "";
    proc.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    proc.stderr!.on("data", (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | string | null>((resolve) => proc.once("exit", (code, sig) => resolve(code ?? sig)));
    const address = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`server did not start in 20 s:\n${out}`)), 20_000);
      proc.stdout!.on("data", () => {
        const m = /Address:\s+(\S+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
      proc.once("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
      void exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`server exited (${code}) before starting:\n${out}`));
      });
    });
    expect(address).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(out).toContain("Storage:  sqlite");
    expect(out).toContain(`Root Token: ${ROOT}`);

    const env = bare({ LATCHKEY_ADDR: address, LATCHKEY_TOKEN: ROOT });
    const put = run(["kv", "put", "secret/packaged", "answer=42"], env);
    expect(put.stderr).toBe("");
    expect(put.status).toBe(0);
    const got = run(["kv", "get", "-field=answer", "secret/packaged"], env);
    expect(got.stderr).toBe("");
    expect(got.stdout).toBe("42");
    expect(got.status).toBe(0);

    proc.kill("SIGTERM");
    expect(await exited).toBe(0);
    server = undefined;
  });
});
