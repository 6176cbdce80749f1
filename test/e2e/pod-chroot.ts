// Runs a container of a stored pod spec as a local process: its command, args
// and env exactly as etcd holds them, in a fresh mount namespace chrooted into
// a root that holds only what the test put there, with each volumeMount
// bind-mounted from a host directory standing in for the volume.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

export interface StoredContainer {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  env?: { name: string; value?: string }[];
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
}

export interface Bind {
  /** A host directory. */
  from: string;
  /** An absolute path inside the root. */
  to: string;
  readOnly?: boolean;
}

// The host side (before chroot) binds each directory, then execs chroot: nothing
// of it runs inside the root, which needs no shell.
const BINDER =
  'R=$1; shift; while [ "$1" != "--" ]; do /usr/bin/mount --bind "$1" "$R$2"; ' +
  'if [ "$3" = ro ]; then /usr/bin/mount -o remount,bind,ro "$R$2"; fi; shift 3; done; shift; exec /usr/sbin/chroot "$R" "$@"';

/** The binds a container's volumeMounts ask for, given a host directory per volume name. */
export function volumeBinds(container: StoredContainer, volumes: Record<string, string>): Bind[] {
  return (container.volumeMounts ?? []).map((m) => {
    const from = volumes[m.name];
    if (from === undefined) throw new Error(`container ${container.name} mounts volume ${m.name}, which the test does not provide`);
    return { from, to: m.mountPath, readOnly: m.readOnly === true };
  });
}

function invocation(root: string, container: StoredContainer, binds: Bind[]): { argv: string[]; env: Record<string, string> } {
  const command = [...(container.command ?? []), ...(container.args ?? [])];
  if (command.length === 0) throw new Error(`container ${container.name} has no command in the stored spec`);
  const bindArgs: string[] = [];
  for (const b of binds) {
    mkdirSync(join(root, b.to), { recursive: true });
    bindArgs.push(b.from, b.to, b.readOnly ? "ro" : "rw");
  }
  const env: Record<string, string> = {};
  for (const e of container.env ?? []) env[e.name] = e.value ?? "";
  return { argv: ["-m", "--", "/bin/sh", "-ec", BINDER, "sh", root, ...bindArgs, "--", ...command], env };
}

/** Runs the container to completion. */
export function runContainer(root: string, container: StoredContainer, binds: Bind[], timeoutMs = 60_000) {
  const { argv, env } = invocation(root, container, binds);
  return spawnSync("/usr/bin/unshare", argv, { env, encoding: "utf8", timeout: timeoutMs });
}

/** Starts a long-running container (a sidecar); output is collected into `output()`. */
export function startContainer(root: string, container: StoredContainer, binds: Bind[]): { proc: ChildProcess; output: () => string } {
  const { argv, env } = invocation(root, container, binds);
  const proc = spawn("/usr/bin/unshare", argv, { env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  proc.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  proc.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  return { proc, output: () => out };
}
