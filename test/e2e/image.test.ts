import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO, VERSION, elfLinking, serverInChroot } from "./package-chroot.js";

// buildah comes from scripts/test.sh (apt-get install buildah when missing: about 25 s
// on a fresh Debian machine). The image is built into a storage root of its own.
describe("the OCI image (npm run image)", () => {
  let dir: string;
  const image = `localhost/latchkey:test-${process.pid}`;
  const buildah = (...args: string[]) =>
    spawnSync("buildah", ["--storage-driver", "vfs", "--root", join(dir, "storage/root"), "--runroot", join(dir, "storage/run"), ...args], {
      encoding: "utf8",
      timeout: 120_000,
    });

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "latchkey-image-"));
  });
  afterAll(() => {
    buildah("rm", "--all");
    buildah("rmi", "--all", "--force");
    rmSync(dir, { recursive: true, force: true });
  });

  it("builds from packaging/Containerfile, printing its digest and size", () => {
    const built = spawnSync("npm", ["run", "--silent", "image"], {
      cwd: REPO,
      env: { ...process.env, IMAGE: image, BUILDAH_ROOT: join(dir, "storage"), DIST_BIN: join(dir, "dist-bin") },
      encoding: "utf8",
      timeout: 290_000,
    });
    expect(built.status, `npm run image failed:\n${built.stdout}${built.stderr}`).toBe(0);
    expect(built.stdout).toMatch(/\[image\] digest sha256:[0-9a-f]{64}\n/);
    expect(built.stdout).toMatch(/\[image\] size \d+ MiB/);
    expect(existsSync(join(dir, "dist-bin/latchkey-image.tar"))).toBe(true);
  }, 300_000);

  it("runs as 65532 with the executable as its entrypoint, labelled with version, revision and build date", () => {
    const res = buildah("inspect", "--type", "image", image);
    expect(res.status, res.stderr).toBe(0);
    const config = (JSON.parse(res.stdout) as { OCIv1: { config: Record<string, any> } }).OCIv1.config;
    expect(config.User).toBe("65532:65532");
    expect(config.Entrypoint).toEqual(["/latchkey/bin/latchkey"]);
    expect(config.Cmd).toEqual(["server"]);
    const revision = spawnSync("git", ["rev-parse", "HEAD"], { cwd: REPO, encoding: "utf8" }).stdout.trim();
    expect(config.Labels).toMatchObject({
      "org.opencontainers.image.version": VERSION,
      "org.opencontainers.image.revision": revision,
    });
    expect(Date.parse(config.Labels["org.opencontainers.image.created"])).toBeGreaterThan(Date.now() - 3_600_000);
  });

  it("its root filesystem alone runs the server and the CLI in a chroot", async () => {
    const container = buildah("from", image);
    expect(container.status, container.stderr).toBe(0);
    const mounted = buildah("mount", container.stdout.trim());
    expect(mounted.status, mounted.stderr).toBe(0);
    const rootfs = join(dir, "rootfs");
    cpSync(mounted.stdout.trim(), rootfs, { recursive: true });
    expect(elfLinking(join(rootfs, "latchkey/bin/latchkey")).interpreter).toBe("/latchkey/bin/lib/ld-linux-x86-64.so.2");
    expect(existsSync(join(rootfs, "etc/ssl/certs/ca-certificates.crt"))).toBe(true);
    expect(existsSync(join(rootfs, "bin"))).toBe(false);
    await serverInChroot(rootfs);
  }, 120_000);
});
