#!/usr/bin/env node
// What `npm run package` runs: builds the single executable latchkey into
// dist-bin/latchkey/, a layout that runs without Node.js or node_modules:
//
//   dist-bin/latchkey/latchkey                 node + the bundled code (a Node.js single-executable application)
//   dist-bin/latchkey/package.json             name and version, read by `latchkey version`
//   dist-bin/latchkey/lib/better_sqlite3.node  the SQLite addon, which cannot be loaded from inside the executable
//
// and, from the same build, a root filesystem for images (FROM scratch) and for
// application containers without glibc, where the agent is copied to:
//
//   dist-bin/rootfs/latchkey/bin/latchkey      the executable, its ELF interpreter /latchkey/bin/lib/ld-linux-x86-64.so.2
//                                              and its RUNPATH $ORIGIN/lib (then /latchkey/bin/lib, for when /proc is absent)
//   dist-bin/rootfs/latchkey/bin/lib/          the addon, glibc's loader and every shared library ldd names
//   dist-bin/rootfs/etc/{passwd,group}         root and the unprivileged user latchkey runs as (65532)
//   dist-bin/rootfs/etc/ssl/certs/ca-certificates.crt   the build host's CA bundle
//   dist-bin/rootfs/tmp/                       mode 1777
//
// The rootfs copy is patched with Debian's patchelf after postject has injected
// the blob: Node finds the blob through its ELF note at run time, which
// patchelf keeps. It works only at /latchkey/bin/; dist-bin/latchkey/ keeps the
// host's loader, so it runs where it is.
//
// Steps: esbuild bundles src/ twice into CommonJS (Node 20's SEA runs only
// CommonJS): the whole CLI, and the agent alone (packaging/agent-main.ts), each
// with a V8 code cache; `node --experimental-sea-config` turns them, as assets
// of the main script packaging/sea-dispatch.cjs, into a blob, and postject
// injects the blob into a copy of this node binary.
import { spawnSync } from "node:child_process";
import { chmodSync, closeSync, copyFileSync, cpSync, mkdirSync, openSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from "node:fs";
import { basename, dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Script } from "node:vm";
import { build } from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
// DIST_BIN moves the output (default dist-bin/), so that two builds need not share it.
const distBin = resolve(root, process.env.DIST_BIN || "dist-bin");
const buildDir = join(distBin, "build");
const layout = join(distBin, "latchkey");
const executable = join(layout, "latchkey");
const addon = join(root, "node_modules/better-sqlite3/build/Release/better_sqlite3.node");
// The sentinel Node's SEA support looks for (the fuse's value is fixed per Node release line, not secret).
const SEA_FUSE = "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2";

/**
 * In the executable, the modules' files do not exist: each module sees itself at
 * <layout>/lib/<path under src>.js, so lib/ stands in for dist/ and the layout
 * root for the package root (where `version` finds package.json).
 */
const moduleUrls = {
  name: "latchkey-module-urls",
  setup(b) {
    b.onLoad({ filter: /[\\/]src[\\/].*\.ts$/ }, (args) => {
      const source = readFileSync(args.path, "utf8");
      if (!source.includes("import.meta.url")) return undefined;
      const inLib = relative(join(root, "src"), args.path).replace(/\\/g, "/").replace(/\.ts$/, ".js");
      return { contents: source.replaceAll("import.meta.url", `__latchkeyModuleUrl(${JSON.stringify(inLib)})`), loader: "ts" };
    });
  },
};

/** better-sqlite3 finds its addon through `bindings`; in the executable it is lib/<name> beside it. */
const addonBeside = {
  name: "latchkey-addon-beside-executable",
  setup(b) {
    b.onResolve({ filter: /^bindings$/ }, () => ({ path: "bindings", namespace: "latchkey-addon" }));
    b.onLoad({ filter: /.*/, namespace: "latchkey-addon" }, () => ({
      contents: `const { createRequire } = require("node:module");
        const { dirname, join } = require("node:path");
        module.exports = (name) => createRequire(process.execPath)(join(dirname(process.execPath), "lib", name));`,
      loader: "js",
    }));
  },
};

/**
 * Writes `path` anew in 32 KiB writes, the size a container runtime unpacks an
 * image layer with (Go's io.Copy buffer). The kernel caches a file in folios as
 * large as the writes that filled it, and a process that touches one page of a
 * mapped file gets the whole folio in its RSS: postject and patchelf write the
 * 100 MiB executable in one piece, which left an idle agent started from this
 * build with 10 MiB more RssFile than the same bytes cost in a pod
 * (bench/RESULTS.md, "What each lever did to the idle sidecar").
 */
function rewriteInSmallWrites(path) {
  const bytes = readFileSync(path);
  const staging = `${path}.rewrite`;
  const fd = openSync(staging, "w", statSync(path).mode);
  try {
    for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at, Math.min(32 * 1024, bytes.length - at));
  } finally {
    closeSync(fd);
  }
  renameSync(staging, path);
}

/** Runs a host tool (patchelf, ldd), failing with its output. */
function runTool(cmd, ...args) {
  const res = spawnSync(cmd, args, { cwd: root, encoding: "utf8" });
  if (res.status !== 0) {
    const hint = res.error && "code" in res.error && res.error.code === "ENOENT" ? ` (install Debian's ${cmd})` : "";
    throw new Error(`[package] ${cmd} ${args.join(" ")} failed${hint}: ${res.error?.message ?? `exit ${res.status}`}\n${res.stdout ?? ""}${res.stderr ?? ""}`);
  }
  return res.stdout;
}

/** The files ldd resolves for these ELF objects: `name => /path (addr)` and the loader's `/path (addr)` lines. */
function sharedLibraries(...objects) {
  const found = new Map();
  for (const object of objects) {
    for (const line of runTool("ldd", object).split("\n")) {
      const m = /^\s*(?:(\S+) => )?(\/\S+) \(0x[0-9a-f]+\)$/.exec(line);
      if (m) found.set(m[1] ?? basename(m[2]), m[2]);
    }
  }
  return found;
}

/** Runs a step with this node; its output (postject warns about every ELF note section) is shown only if it fails. */
function runNode(...args) {
  const res = spawnSync(process.execPath, args, { cwd: root, encoding: "utf8" });
  if (res.status !== 0) {
    throw new Error(`[package] node ${args.join(" ")} failed (${res.error?.message ?? `exit ${res.status}`}):\n${res.stdout}${res.stderr}`);
  }
}

const started = Date.now();
rmSync(distBin, { recursive: true, force: true });
mkdirSync(buildDir, { recursive: true });
mkdirSync(join(layout, "lib"), { recursive: true });

// What `latchkey version` and sys/seal-status report: the commit and the time of this build.
const commit = spawnSync("git", ["rev-parse", "HEAD"], { cwd: root, encoding: "utf8" }).stdout?.trim() || "";
const buildInfo = { commit, date: new Date().toISOString().replace(/\.\d{3}Z$/, "Z") };

/** Bundles one entry point into build/<name>.cjs, wrapped as packaging/sea-dispatch.cjs runs it, with its V8 code cache. */
async function bundle(name, entry) {
  const out = join(buildDir, `${name}.bundle.cjs`);
  await build({
    entryPoints: [join(root, entry)],
    outfile: out,
    bundle: true,
    platform: "node",
    target: "node20",
    format: "cjs",
    // pg loads pg-native only when asked for its native client, which latchkey does not use.
    external: ["pg-native"],
    banner: {
      js: `const __latchkeyModuleUrl = (p) => require("node:url").pathToFileURL(require("node:path").join(require("node:path").dirname(process.execPath), "lib", p)).href;`,
    },
    define: { __LATCHKEY_BUILD__: JSON.stringify(buildInfo) },
    plugins: [moduleUrls, addonBeside],
    logLevel: "warning",
  });
  const wrapped = `(function (require, module, exports, __filename, __dirname) {${readFileSync(out, "utf8")}\n})`;
  writeFileSync(join(buildDir, `${name}.cjs`), wrapped);
  writeFileSync(join(buildDir, `${name}.cache`), new Script(wrapped, { filename: `${name}.cjs` }).createCachedData());
  return { [`${name}.cjs`]: join(buildDir, `${name}.cjs`), [`${name}.cache`]: join(buildDir, `${name}.cache`) };
}
// The whole CLI, and the agent's command group alone (what an idle sidecar keeps in memory).
const assets = { ...(await bundle("latchkey", "packaging/sea-main.ts")), ...(await bundle("agent", "packaging/agent-main.ts")) };

// The SQLite store's checkpointer thread runs from a file: lib/storage/, where src/storage/sqlite.ts sees itself.
await build({
  entryPoints: [join(root, "src/storage/sqlite-checkpointer.cjs")],
  outfile: join(layout, "lib/storage/sqlite-checkpointer.cjs"),
  bundle: true,
  platform: "node",
  target: "node20",
  format: "cjs",
  plugins: [addonBeside],
  logLevel: "warning",
});

// packaging/sea-config.json with its paths moved under DIST_BIN.
const seaConfig = JSON.parse(readFileSync(join(root, "packaging/sea-config.json"), "utf8"));
writeFileSync(
  join(buildDir, "sea-config.json"),
  JSON.stringify({ ...seaConfig, main: join(root, "packaging/sea-dispatch.cjs"), output: join(buildDir, "latchkey.blob"), assets }),
);
runNode("--experimental-sea-config", join(buildDir, "sea-config.json"));
copyFileSync(process.execPath, executable);
chmodSync(executable, 0o755);
runNode(join(root, "node_modules/postject/dist/cli.js"), executable, "NODE_SEA_BLOB", join(buildDir, "latchkey.blob"), "--sentinel-fuse", SEA_FUSE);
rewriteInSmallWrites(executable);
copyFileSync(addon, join(layout, "lib/better_sqlite3.node"));
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
writeFileSync(join(layout, "package.json"), `${JSON.stringify({ name: pkg.name, version: pkg.version, license: pkg.license }, null, 2)}\n`);

// The root filesystem.
const rootfs = join(distBin, "rootfs");
const bin = join(rootfs, "latchkey/bin");
const INTERPRETER = "ld-linux-x86-64.so.2";
cpSync(layout, bin, { recursive: true });
for (const [name, path] of sharedLibraries(executable, join(layout, "lib/better_sqlite3.node"))) {
  copyFileSync(realpathSync(path), join(bin, "lib", name));
}
statSync(join(bin, "lib", INTERPRETER));
runTool("patchelf", "--set-interpreter", `/latchkey/bin/lib/${INTERPRETER}`, "--set-rpath", "$ORIGIN/lib:/latchkey/bin/lib", join(bin, "latchkey"));
rewriteInSmallWrites(join(bin, "latchkey"));
for (const name of ["ssl/certs", "tmp"]) mkdirSync(join(rootfs, name === "tmp" ? "tmp" : `etc/${name}`), { recursive: true });
chmodSync(join(rootfs, "tmp"), 0o1777);
writeFileSync(join(rootfs, "etc/passwd"), "root:x:0:0:root:/root:/sbin/nologin\nlatchkey:x:65532:65532:latchkey:/tmp:/sbin/nologin\n");
writeFileSync(join(rootfs, "etc/group"), "root:x:0:\nlatchkey:x:65532:\n");
copyFileSync(realpathSync("/etc/ssl/certs/ca-certificates.crt"), join(rootfs, "etc/ssl/certs/ca-certificates.crt"));

const mb = (statSync(executable).size / 2 ** 20).toFixed(1);
console.log(`[package] ${relative(root, layout)}/ and ${relative(root, rootfs)}/ built in ${((Date.now() - started) / 1000).toFixed(1)} s; latchkey is ${mb} MiB`);
