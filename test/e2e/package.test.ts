import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, startServerProcess, type ServerProcess } from "../helpers/process.js";
import { REPO, VERSION, elfLinking, inChroot, serverInChroot } from "./package-chroot.js";

const ROOT = "lks.package-root-token";

// `npm run package` takes under 20 s, so the suite always builds the executable
// afresh from the sources under test rather than trusting an older dist-bin/.
describe("the single executable (npm run package)", () => {
  let dir: string;
  let exe: string;
  let server: ServerProcess | undefined;

  /** An environment with no Node.js to find: PATH leads nowhere and nothing else is inherited. */
  const bare = (extra: Record<string, string> = {}) => ({ PATH: "/nonexistent", HOME: dir, ...extra });
  const run = (args: string[], env: Record<string, string>) =>
    spawnSync(exe, args, { cwd: dir, env, encoding: "utf8", timeout: 30_000 });

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "latchkey-package-"));
    exe = join(dir, "latchkey/latchkey");
  });
  afterAll(async () => {
    await server?.stop("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });

  // A test rather than a hook, so that a packaging failure counts as a failed test in the report.
  it("builds dist-bin/latchkey/ with the executable and the SQLite addon beside it", () => {
    const packaged = spawnSync("npm", ["run", "package"], { cwd: REPO, encoding: "utf8", timeout: 170_000 });
    expect(packaged.status, `npm run package failed:\n${packaged.stdout}${packaged.stderr}`).toBe(0);
    expect(statSync(join(REPO, "dist-bin/latchkey/latchkey")).mode & 0o111).toBe(0o111);
    expect(statSync(join(REPO, "dist-bin/latchkey/lib/better_sqlite3.node")).isFile()).toBe(true);
    // Copied the way an init container copies it: the layout alone, in a directory with no node_modules above it.
    cpSync(join(REPO, "dist-bin/latchkey"), join(dir, "latchkey"), { recursive: true });
  }, 180_000);

  let builtAt = "";
  it("prints the package's version, the commit it was built from and when", () => {
    const res = run(["version"], bare());
    expect(res.stderr).toBe("");
    const commit = spawnSync("git", ["rev-parse", "HEAD"], { cwd: REPO, encoding: "utf8" }).stdout.trim();
    const m = /^latchkey v(\S+) \(([0-9a-f]{40})\), built (\S+)\n$/.exec(res.stdout);
    expect(m, res.stdout).not.toBeNull();
    expect(m![1]).toBe(VERSION);
    expect(m![2]).toBe(commit);
    builtAt = m![3];
    expect(Math.abs(Date.parse(builtAt) - Date.now())).toBeLessThan(3_600_000);
    expect(res.status).toBe(0);
  });

  it("runs a dev server on its bundled SQLite and its own CLI writes and reads a KV secret through it", async () => {
    server = await startServerProcess(["--dev", "--dev-root-token", ROOT, "--dev-listen-address", "127.0.0.1:0"], bare(), {
      command: [exe],
      bareEnv: true,
      cwd: dir,
    });
    expect(server.address).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(server.output()).toContain("Storage:  sqlite");
    expect(server.output()).toContain(`Root Token: ${ROOT}`);
    // The same build date in sys/seal-status as `latchkey version` printed (baked in, not a file's mtime).
    const status = await api(server.address, "GET", "sys/seal-status");
    expect(status.json.build_date).toBe(builtAt);

    const env = bare({ LATCHKEY_ADDR: server.address, LATCHKEY_TOKEN: ROOT });
    const put = run(["kv", "put", "secret/packaged", "answer=42"], env);
    expect(put.stderr).toBe("");
    expect(put.status).toBe(0);
    const got = run(["kv", "get", "-field=answer", "secret/packaged"], env);
    expect(got.stderr).toBe("");
    expect(got.stdout).toBe("42");
    expect(got.status).toBe(0);

    expect(await server.stop("SIGTERM")).toBe(0);
    server = undefined;
  });

  describe("the root filesystem dist-bin/rootfs/", () => {
    let rootfs: string;
    beforeAll(() => {
      // Copied into an empty directory, as the agent is copied into a shared volume.
      rootfs = join(dir, "rootfs");
      cpSync(join(REPO, "dist-bin/rootfs"), rootfs, { recursive: true });
    });

    it("holds /latchkey/bin/ per the agent image layout, its executable linked through /latchkey/bin/lib/", () => {
      const bin = join(rootfs, "latchkey/bin");
      expect(elfLinking(join(bin, "latchkey"))).toEqual({
        interpreter: "/latchkey/bin/lib/ld-linux-x86-64.so.2",
        runpath: "$ORIGIN/lib:/latchkey/bin/lib",
      });
      for (const lib of ["ld-linux-x86-64.so.2", "libc.so.6", "libstdc++.so.6", "better_sqlite3.node"]) {
        expect(existsSync(join(bin, "lib", lib)), lib).toBe(true);
      }
      expect(readFileSync(join(rootfs, "etc/passwd"), "utf8")).toContain(":65532:65532:");
      expect(readFileSync(join(rootfs, "etc/group"), "utf8")).toContain(":65532:");
      expect(statSync(join(rootfs, "tmp")).mode & 0o7777).toBe(0o1777);
      // Nothing else: no shell, no node.
      expect(existsSync(join(rootfs, "bin"))).toBe(false);
      expect(existsSync(join(rootfs, "usr"))).toBe(false);
    });

    it("prints its version in a chroot holding nothing else", () => {
      const [cmd, ...args] = inChroot(rootfs);
      const res = spawnSync(cmd, [...args, "version"], { env: { PATH: "/nonexistent" }, encoding: "utf8", timeout: 30_000 });
      expect(res.stderr).toBe("");
      expect(res.stdout).toMatch(new RegExp(`^latchkey v${VERSION.replaceAll(".", "\\.")}\\b`));
      expect(res.status).toBe(0);
    });

    it("runs a server on SQLite under /tmp in the chroot, answering the host", async () => {
      mkdirSync(join(rootfs, "tmp"), { recursive: true });
      await serverInChroot(rootfs);
    }, 60_000);
  });
});
