import { mkdtempSync, readFileSync, readdirSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { writeFileAtomic } from "./atomic-write.js";
import { backoffDelay } from "./backoff.js";
import { findReferences, resolveEnv } from "./exec.js";
import { createRenderer } from "./render.js";
import type { AgentSession } from "./session.js";

const fakeSession = (secrets: Record<string, Record<string, unknown>>): AgentSession => ({
  ensureToken: async () => undefined,
  readSecret: async (path) => {
    const data = secrets[path];
    if (data === undefined) throw new Error(`no ${path}`);
    return data;
  },
  close: async () => undefined,
});

describe("agent parts", () => {
  it("writes atomically with the mode asked for and leaves no temp file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "lk-agent-atomic-"));
    await writeFileAtomic(join(dir, "f"), "one", 0o600);
    await writeFileAtomic(join(dir, "f"), "two", 0o640);
    expect(readFileSync(join(dir, "f"), "utf8")).toBe("two");
    expect(statSync(join(dir, "f")).mode & 0o777).toBe(0o640);
    expect(readdirSync(dir)).toEqual(["f"]);
  });

  it("backs off exponentially with jitter, capped", () => {
    expect(backoffDelay(0, 1000, 30_000, () => 0)).toBe(500);
    expect(backoffDelay(0, 1000, 30_000, () => 1)).toBe(1000);
    expect(backoffDelay(3, 1000, 30_000, () => 1)).toBe(8000);
    expect(backoffDelay(20, 1000, 30_000, () => 1)).toBe(30_000);
    expect(backoffDelay(20, 1000, 30_000, () => 0)).toBe(15_000);
  });

  it("reports a file as changed only when its rendered content changed, and writes nothing when a read fails", async () => {
    const dir = mkdtempSync(join(tmpdir(), "lk-agent-render-"));
    const secrets: Record<string, Record<string, unknown>> = { "secret/data/a": { k: "1" }, "secret/data/b": { k: "x" } };
    const specs = [
      { name: "a", path: "secret/data/a", template: "{{ .data.k }}", mode: 0o640 },
      { name: "b", path: "secret/data/b", mode: 0o640 },
    ];
    const renderer = createRenderer(specs, dir);
    expect(await renderer.renderAll(fakeSession(secrets))).toEqual(["a", "b"]);
    expect(await renderer.renderAll(fakeSession(secrets))).toEqual([]);
    secrets["secret/data/a"] = { k: "2", other: "ignored" };
    expect(await renderer.renderAll(fakeSession(secrets))).toEqual(["a"]);
    expect(readFileSync(join(dir, "a"), "utf8")).toBe("2");
    // A restarted sidecar finds the init container's files and rewrites nothing.
    expect(await createRenderer(specs, dir).renderAll(fakeSession(secrets))).toEqual([]);
    secrets["secret/data/a"] = { k: "3" };
    delete secrets["secret/data/b"];
    await expect(renderer.renderAll(fakeSession(secrets))).rejects.toThrow("no secret/data/b");
    expect(readFileSync(join(dir, "a"), "utf8")).toBe("2");
  });

  it("resolves latchkey: references, reading each secret once", async () => {
    const reads: string[] = [];
    const session = { readSecret: async (path: string) => (reads.push(path), { user: "u", password: "p", port: 5432 }) };
    const env = { A: "latchkey:secret/data/db#user", B: "latchkey:/secret/data/db#password", C: "latchkey:secret/data/db#port", D: "plain" };
    expect(await resolveEnv(env, session)).toEqual({ A: "u", B: "p", C: "5432", D: "plain" });
    expect(reads).toEqual(["secret/data/db"]);
    await expect(resolveEnv({ A: "latchkey:secret/data/db#nokey" }, session)).rejects.toThrow("resolving A: secret/data/db has no key nokey");
    expect(() => findReferences({ X: "latchkey:secret/data/db" })).toThrow("X must be latchkey:<API_PATH>#<KEY>");
  });
});

describe("copyAgent", () => {
  it("copies the directory recursively with its modes, and writes the marker last", async () => {
    const { chmodSync, mkdirSync, writeFileSync, existsSync } = await import("node:fs");
    const { copyAgent, COMPLETE_MARKER } = await import("./copy.js");
    const from = mkdtempSync(join(tmpdir(), "lk-agent-from-"));
    const to = mkdtempSync(join(tmpdir(), "lk-agent-to-"));
    writeFileSync(join(from, "latchkey"), "#!/bin/true\n");
    chmodSync(join(from, "latchkey"), 0o755);
    mkdirSync(join(from, "lib"));
    writeFileSync(join(from, "lib", "addon.node"), "x");
    chmodSync(join(from, "lib", "addon.node"), 0o644);
    await copyAgent(from, to);
    expect(statSync(join(to, "latchkey")).mode & 0o777).toBe(0o755);
    expect(readFileSync(join(to, "lib", "addon.node"), "utf8")).toBe("x");
    expect(existsSync(join(to, COMPLETE_MARKER))).toBe(true);
    expect(readdirSync(to).sort()).toEqual([COMPLETE_MARKER, "latchkey", "lib"].sort());
  });
});
