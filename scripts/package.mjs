#!/usr/bin/env node
// What `npm run package` runs: builds the single executable latchkey into
// dist-bin/latchkey/, a layout that runs without Node.js or node_modules:
//
//   dist-bin/latchkey/latchkey                 node + the bundled code (a Node.js single-executable application)
//   dist-bin/latchkey/package.json             name and version, read by `latchkey version`
//   dist-bin/latchkey/lib/better_sqlite3.node  the SQLite addon, which cannot be loaded from inside the executable
//
// Steps: esbuild bundles src/ into one CommonJS script (Node 20's SEA runs only
// CommonJS), `node --experimental-sea-config` turns it into a blob, and postject
// injects the blob into a copy of this node binary.
import { spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const buildDir = join(root, "dist-bin/build");
const layout = join(root, "dist-bin/latchkey");
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

/** Runs a step with this node; its output (postject warns about every ELF note section) is shown only if it fails. */
function runNode(...args) {
  const res = spawnSync(process.execPath, args, { cwd: root, encoding: "utf8" });
  if (res.status !== 0) {
    throw new Error(`[package] node ${args.join(" ")} failed (${res.error?.message ?? `exit ${res.status}`}):\n${res.stdout}${res.stderr}`);
  }
}

const started = Date.now();
rmSync(join(root, "dist-bin"), { recursive: true, force: true });
mkdirSync(buildDir, { recursive: true });
mkdirSync(join(layout, "lib"), { recursive: true });

await build({
  entryPoints: [join(root, "packaging/sea-main.ts")],
  outfile: join(buildDir, "latchkey.cjs"),
  bundle: true,
  platform: "node",
  target: "node20",
  format: "cjs",
  // pg loads pg-native only when asked for its native client, which latchkey does not use.
  external: ["pg-native"],
  banner: {
    js: `const __latchkeyModuleUrl = (p) => require("node:url").pathToFileURL(require("node:path").join(require("node:path").dirname(process.execPath), "lib", p)).href;`,
  },
  plugins: [moduleUrls, addonBeside],
  logLevel: "warning",
});

runNode("--experimental-sea-config", join(root, "packaging/sea-config.json"));
copyFileSync(process.execPath, executable);
chmodSync(executable, 0o755);
runNode(join(root, "node_modules/postject/dist/cli.js"), executable, "NODE_SEA_BLOB", join(buildDir, "latchkey.blob"), "--sentinel-fuse", SEA_FUSE);
copyFileSync(addon, join(layout, "lib/better_sqlite3.node"));
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
writeFileSync(join(layout, "package.json"), `${JSON.stringify({ name: pkg.name, version: pkg.version, license: pkg.license }, null, 2)}\n`);

const mb = (statSync(executable).size / 2 ** 20).toFixed(1);
console.log(`[package] ${relative(root, layout)}/ built in ${((Date.now() - started) / 1000).toFixed(1)} s; latchkey is ${mb} MiB`);
