import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import ts from "typescript";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSqliteStore } from "./sqlite.js";

/**
 * An acknowledged write survives SIGKILL. A child process runs the real
 * createSqliteStore (this very source, transpiled to JavaScript here, since
 * Node 20 cannot run TypeScript) and streams puts and transactions, printing
 * each key after its write resolved; we kill it mid-stream, several times over
 * the same file, then check every printed key.
 */

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/** Transpiles `entry` and every module it imports relatively into `outRoot`, keeping the layout. */
async function transpileTree(entry: string, outRoot: string): Promise<void> {
  const queue = [entry];
  const done = new Set<string>();
  for (let file = queue.pop(); file !== undefined; file = queue.pop()) {
    if (done.has(file)) continue;
    done.add(file);
    const { outputText } = ts.transpileModule(await readFile(file, "utf8"), {
      fileName: file,
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    });
    const out = join(outRoot, relative(repoRoot, file)).replace(/\.ts$/, ".js");
    await mkdir(dirname(out), { recursive: true });
    await writeFile(out, outputText);
    for (const [, spec] of outputText.matchAll(/from "(\.{1,2}\/[^"]+)\.js"/g)) {
      queue.push(resolve(dirname(file), `${spec}.ts`));
    }
  }
}

/** Must match valueFor() below. */
const writerSource = `
import { createHash } from "node:crypto";
import { createSqliteStore } from "./app/src/storage/sqlite.js";
const valueFor = (key) => Buffer.concat(Array(64).fill(createHash("sha256").update(key).digest()));
const store = createSqliteStore(process.argv[2]);
for (let i = Number(process.argv[3]); ; i++) {
  const key = "crash/" + String(i).padStart(8, "0");
  if (i % 5 === 0) {
    await store.transaction(async (tx) => {
      await tx.put(key, valueFor(key));
      await tx.put(key + "/pair", valueFor(key + "/pair"));
    });
    process.stdout.write(key + "\\n" + key + "/pair\\n");
  } else {
    await store.put(key, valueFor(key));
    process.stdout.write(key + "\\n");
  }
}
`;

const valueFor = (key: string) => Buffer.concat(Array(64).fill(createHash("sha256").update(key).digest()));

/** Runs the writer until it has acknowledged `target` keys, SIGKILLs it, and returns every key it acknowledged. */
function writeThenKill(dir: string, dbPath: string, start: number, target: number) {
  return new Promise<{ acked: string[]; signal: NodeJS.Signals | null }>((resolve, reject) => {
    const child = spawn(process.execPath, [join(dir, "writer.mjs"), dbPath, String(start)], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    const acked: string[] = [];
    let partial = "";
    let stderr = "";
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk: string) => {
      const lines = (partial + chunk).split("\n");
      partial = lines.pop() ?? "";
      acked.push(...lines);
      if (acked.length >= target && !child.killed) child.kill("SIGKILL");
    });
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", reject);
    child.on("close", (code, signal) => {
      if (signal !== "SIGKILL") reject(new Error(`writer exited with ${code}: ${stderr}`));
      else resolve({ acked, signal });
    });
  });
}

describe("sqlite durability under SIGKILL", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "latchkey-crash-"));
    await transpileTree(join(repoRoot, "src/storage/sqlite.ts"), join(dir, "app"));
    await symlink(join(repoRoot, "node_modules"), join(dir, "app", "node_modules"));
    await writeFile(join(dir, "writer.mjs"), writerSource);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("loses no acknowledged write and corrupts nothing across repeated kills", async () => {
    const dbPath = join(dir, "data", "latchkey.db");
    const acked: string[] = [];
    let next = 0;
    // Three writers in a row on the same file, each killed mid-stream: the later
    // ones start from a WAL that a killed process left behind.
    for (const target of [300, 1000, 2000]) {
      const round = await writeThenKill(dir, dbPath, next, target);
      expect(round.signal).toBe("SIGKILL");
      expect(round.acked.length).toBeGreaterThanOrEqual(target);
      acked.push(...round.acked);
      next = Number(round.acked[round.acked.length - 1].slice("crash/".length, "crash/".length + 8)) + 1;
    }

    const check = new Database(dbPath);
    expect(check.pragma("integrity_check", { simple: true })).toBe("ok");
    check.close();

    const store = createSqliteStore(dbPath);
    try {
      for (const key of acked) {
        const value = await store.get(key);
        expect(value, `acknowledged ${key} is missing`).toBeDefined();
        expect(Buffer.compare(value!, valueFor(key)), `${key} is damaged`).toBe(0);
      }
      // Whatever else made it to disk (written, not yet acknowledged) is whole too.
      const present = await store.scan("crash/");
      expect(present.length).toBeGreaterThanOrEqual(acked.length);
      for (const rel of present) {
        const value = await store.get(`crash/${rel}`);
        expect(Buffer.compare(value!, valueFor(`crash/${rel}`))).toBe(0);
        if (!rel.endsWith("/pair") && Number(rel) % 5 === 0) {
          expect(present, `transaction ${rel} applied by halves`).toContain(`${rel}/pair`);
        }
      }
    } finally {
      await store.close();
    }
  }, 120_000);
});
