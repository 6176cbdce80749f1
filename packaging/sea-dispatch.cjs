// The single executable's main script. It carries two bundles as assets and
// runs one: `latchkey agent ...` gets the agent's own small bundle (a sidecar
// stays idle for its pod's whole life, so what it loads is memory it keeps),
// every other command the whole CLI. Each comes with the V8 code cache made
// for it at build time, as the executable's own useCodeCache would do.
const { getAsset } = require("node:sea");
const { Script } = require("node:vm");
const { dirname } = require("node:path");

const name = process.argv[2] === "agent" ? "agent" : "latchkey";
// scripts/package.mjs wraps each bundle as a function of CommonJS's module arguments.
const script = new Script(getAsset(`${name}.cjs`, "utf8"), {
  filename: `${name}.cjs`,
  cachedData: Buffer.from(getAsset(`${name}.cache`)),
});
script.runInThisContext()(require, module, exports, process.execPath, dirname(process.execPath));
