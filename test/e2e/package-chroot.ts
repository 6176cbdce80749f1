// Shared by the package and image tests: latchkey run in a chroot of a root
// filesystem (the packaged one, or an image's), in a fresh mount namespace.
import { spawnSync } from "node:child_process";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "vitest";
import { api, startServerProcess, type ServerProcess } from "../helpers/process.js";

export const REPO = fileURLToPath(new URL("../..", import.meta.url));
export const { version: VERSION } = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as { version: string };

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
