import { cpus, release, totalmem, type as osType } from "node:os";
import { readFileSync } from "node:fs";
/** What the figures came from: they mean little without it. */
export function machineInfo() {
    const list = cpus();
    return {
        cpu_model: list[0]?.model.trim() ?? "unknown",
        cores: list.length,
        memory_gb: Math.round((totalmem() / 2 ** 30) * 10) / 10,
        node_version: process.version,
        os: `${osName()} (${osType()} ${release()})`,
    };
}
function osName() {
    try {
        const m = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(readFileSync("/etc/os-release", "utf8"));
        if (m)
            return m[1];
    }
    catch {
        // not Linux, or no os-release: the kernel string alone
    }
    return osType();
}
