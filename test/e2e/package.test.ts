import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, startServerProcess, type ServerProcess } from "../helpers/process.js";

const REPO = fileURLToPath(new URL("../..", import.meta.url));
const ROOT = "lks.package-root-token";
const { version: VERSION } = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as { version: string };

/** `latchkey ARGS` in a fresh mount namespace, chrooted into `rootfs`: nothing of the host's files is visible. */
export const inChroot = (rootfs: string) => ["/usr/bin/unshare", "-m", "/usr/sbin/chroot", rootfs, "/latchkey/bin/latchkey"];

/** The ELF interpreter and RUNPATH patchelf reads from an executable. */
export function elfLinking(exe: string): { interpreter: string; runpath: string } {
  const read = (flag: string) => spawnSync("patchelf", [flag, exe], { encoding: "utf8" }).stdout.trim();
  return { interpreter: read("--print-interpreter"), runpath: read("--print-rpath") };
}

/**
 * In a chroot of `rootfs` (a copy of the packaged root filesystem or an image's),
 * a server on SQLite in /tmp starts with auto-unseal, answers sys/health from the
 * host, and the CLI inside the chroot writes and reads a KV secret through it.
 */
export async function serverInChroot(rootfs: string): Promise<void> {
  writeFileSync(
    join(rootfs, "tmp/latchkey.yaml"),
    [
      `listener: {address: "127.0.0.1:0"}`,
      `storage: {sqlite: {path: /tmp/latchkey.db}}`,
      `seal: {auto: {key_file: /tmp/unseal.key}}`,
      `log_level: warn`,
    ].join("\n"),
  );
  const server: ServerProcess = await startServerProcess(["--config", "/tmp/latchkey.yaml"], { HOME: "/tmp" }, { command: inChroot(rootfs), bareEnv: true });
  try {
    const init = await api(server.address, "PUT", "sys/init", undefined, { secret_shares: 1, secret_threshold: 1 });
    expect(init.status, init.text).toBe(200);
    const root = init.json.root_token as string;
    const health = await api(server.address, "GET", "sys/health");
    expect(health.status, health.text).toBe(200);
    expect(health.json).toMatchObject({ initialized: true, sealed: false, version: VERSION });
    expect(statSync(join(rootfs, "tmp/latchkey.db")).size).toBeGreaterThan(0);

    const env = { PATH: "/nonexistent", HOME: "/tmp", LATCHKEY_ADDR: server.address, LATCHKEY_TOKEN: root };
    const cli = (...args: string[]) => spawnSync(inChroot(rootfs)[0], [...inChroot(rootfs).slice(1), ...args], { env, encoding: "utf8", timeout: 30_000 });
    const mount = cli("secrets", "enable", "-path=secret", "-version=2", "kv");
    expect(mount.stderr).toBe("");
    expect(mount.status).toBe(0);
    const put = cli("kv", "put", "secret/chrooted", "answer=42");
    expect(put.stderr).toBe("");
    expect(put.status).toBe(0);
    const got = cli("kv", "get", "-field=answer", "secret/chrooted");
    expect(got.stderr).toBe("");
    expect(got.stdout).toBe("42");
    expect(got.status).toBe(0);
  } finally {
    expect(await server.stop("SIGTERM")).toBe(0);
  }
}

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

  it("prints the package's version", () => {
    const res = run(["version"], bare());
    expect(res.stderr).toBe("");
    expect(res.stdout).toMatch(new RegExp(`^latchkey v${VERSION.replaceAll(".", "\\.")}\\b`));
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
