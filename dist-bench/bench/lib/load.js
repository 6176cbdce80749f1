import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BENCH_DIST, spawnNode } from "./processes.js";
export async function runLoad(spec, opts) {
    const specFile = join(opts.workDir, `load-${Date.now()}.json`);
    const resultFile = `${specFile}.result`;
    writeFileSync(specFile, JSON.stringify(spec));
    const worker = spawnNode([join(BENCH_DIST, "lib", "load-worker.js"), specFile, resultFile], { cpus: opts.cpus });
    const code = await new Promise((resolve) => worker.proc.once("exit", (c) => resolve(c)));
    if (code !== 0)
        throw new Error(`load generator exited with ${code}:\n${worker.output()}`);
    const result = JSON.parse(readFileSync(resultFile, "utf8"));
    if (result.ok === 0) {
        throw new Error(`no successful responses: ${JSON.stringify(result.statusCodes)}\n${worker.output()}`);
    }
    return result;
}
