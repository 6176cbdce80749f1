import { spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
/** The repository root (this file is dist-bench/bench/lib/processes.js once compiled). */
export const REPO = fileURLToPath(new URL("../../../", import.meta.url));
/** The compiled harness, for processes that run one of its modules. */
export const BENCH_DIST = fileURLToPath(new URL("../", import.meta.url));
export const LATCHKEY_BIN = `${REPO}bin/latchkey.js`;
/** CPUs to pin the process under test and the load generator to, or null when taskset is missing or there is one CPU. */
export function choosePinning(cpuCount) {
    if (cpuCount < 2)
        return null;
    const probe = spawnSync("taskset", ["-c", "0", "true"]);
    if (probe.status !== 0)
        return null;
    // Two cores: one each. More: the server gets the first half, like a container limit would.
    const half = Math.max(1, Math.floor(cpuCount / 2));
    const server = half === 1 ? "0" : `0-${half - 1}`;
    const load = cpuCount - half === 1 ? String(half) : `${half}-${cpuCount - 1}`;
    return { server, load };
}
/** Starts `node <args>` pinned to `cpus` (when given); the pid is node's own, since taskset execs it. */
export function spawnNode(args, opts = {}) {
    const nodeArgs = [...(opts.nodeFlags ?? []), ...args];
    const [cmd, argv] = opts.cpus ? ["taskset", ["-c", opts.cpus, process.execPath, ...nodeArgs]] : [process.execPath, nodeArgs];
    const proc = spawn(cmd, argv, {
        cwd: opts.cwd ?? REPO,
        env: { ...process.env, ...opts.env },
        stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    proc.stdout.on("data", (d) => (out = (out + d.toString()).slice(-20_000)));
    proc.stderr.on("data", (d) => (out = (out + d.toString()).slice(-20_000)));
    const exited = new Promise((resolve) => {
        if (proc.exitCode !== null || proc.signalCode !== null)
            resolve();
        else
            proc.once("exit", () => resolve());
    });
    running.add(proc);
    void exited.then(() => running.delete(proc));
    return {
        proc,
        pid: proc.pid,
        output: () => out,
        async stop() {
            if (proc.exitCode !== null || proc.signalCode !== null)
                return;
            proc.kill("SIGTERM");
            // A server writing its CPU profile takes a moment; one that hangs is killed.
            const timer = setTimeout(() => proc.kill("SIGKILL"), 15_000);
            await exited;
            clearTimeout(timer);
        },
    };
}
const running = new Set();
/** Kills whatever the harness started and has not stopped yet (on an error or Ctrl-C). */
export function killAll() {
    for (const proc of running)
        proc.kill("SIGKILL");
}
/** Resolves with the first match of `pattern` in the process's output. */
export function waitForOutput(p, pattern, timeoutMs = 30_000) {
    return new Promise((resolve, reject) => {
        const check = () => {
            const m = pattern.exec(p.output());
            if (m) {
                done();
                resolve(m);
            }
        };
        const onExit = () => {
            done();
            reject(new Error(`process ${p.pid} exited before printing ${pattern}:\n${p.output()}`));
        };
        const timer = setTimeout(() => {
            done();
            reject(new Error(`process ${p.pid} did not print ${pattern} within ${timeoutMs} ms:\n${p.output()}`));
        }, timeoutMs);
        const done = () => {
            clearTimeout(timer);
            p.proc.stdout.off("data", check);
            p.proc.stderr.off("data", check);
            p.proc.off("exit", onExit);
        };
        p.proc.stdout.on("data", check);
        p.proc.stderr.on("data", check);
        p.proc.once("exit", onExit);
        check();
    });
}
function procStatusKb(pid, field) {
    try {
        const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
        return m ? Number(m[1]) : null;
    }
    catch {
        return null;
    }
}
/** Peak resident set (VmHWM) of a live process, MiB: the kernel's own high-water mark, so no sample is missed. */
export function peakRssMb(pid) {
    const kb = procStatusKb(pid, "VmHWM");
    return kb === null ? null : round(kb / 1024, 1);
}
export function rssMb(pid) {
    const kb = procStatusKb(pid, "VmRSS");
    return kb === null ? null : round(kb / 1024, 1);
}
/** User + system CPU seconds a live process has used so far (/proc/<pid>/stat fields 14 and 15). */
export function cpuSeconds(pid) {
    try {
        const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
        const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
        return (Number(fields[11]) + Number(fields[12])) / clockTicks;
    }
    catch {
        return null;
    }
}
/** CPU seconds all processes of the machine have used so far (/proc/stat: everything but idle and iowait). */
export function machineCpuSeconds() {
    try {
        const [, ...jiffies] = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/);
        const n = jiffies.map(Number);
        const total = n.slice(0, 8).reduce((a, b) => a + b, 0);
        return (total - n[3] - n[4]) / clockTicks;
    }
    catch {
        return null;
    }
}
const clockTicks = (() => {
    const res = spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" });
    const n = Number(res.stdout?.trim());
    return Number.isFinite(n) && n > 0 ? n : 100;
})();
export const round = (n, digits) => Math.round(n * 10 ** digits) / 10 ** digits;
