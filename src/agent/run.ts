import { mkdir, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { backoffDelay, sleep } from "./backoff.js";
import type { AgentConfig } from "./config.js";
import { runOnChange } from "./on-change.js";
import { createRenderer } from "./render.js";
import { AgentError, openSession } from "./session.js";

export interface AgentIO {
  log(line: string): void;
}

/** A token must outlive the next cycle by this much, or it is renewed first. */
const TOKEN_MARGIN_MS = 30_000;

/**
 * `--mode init` renders once and resolves; `--mode sidecar` then re-renders
 * every refresh interval until `signal` aborts (SIGTERM), backing off while the
 * server is down. Rejects with an AgentError naming the failing step.
 */
export async function runAgent(config: AgentConfig, io: AgentIO, signal: AbortSignal): Promise<void> {
  const sidecar = config.mode === "sidecar";
  const session = await openSession({ ...config, signal });
  const renderer = createRenderer(config.secrets, config.secretsDir);
  try {
    await session.ensureToken(sidecar ? config.refreshMs + TOKEN_MARGIN_MS : 0);
    const first = await renderer.renderAll(session);
    io.log(`rendered ${config.secrets.length} secret(s), ${first.length} file(s) written`);
    if (config.readyFile !== undefined) {
      const readyFile = config.readyFile;
      await mkdir(dirname(readyFile), { recursive: true })
        .then(() => writeFile(readyFile, `${new Date().toISOString()}\n`))
        .catch((err: unknown) => {
          throw new AgentError(`writing the ready file ${readyFile}`, err instanceof Error ? err.message : String(err), false);
        });
    }
    if (!sidecar) return;
    let failures = 0;
    while (!signal.aborted) {
      await sleep(failures === 0 ? config.refreshMs : backoffDelay(failures - 1, 1000, Math.max(config.refreshMs, 60_000)), signal);
      if (signal.aborted) break;
      try {
        await session.ensureToken(config.refreshMs + TOKEN_MARGIN_MS);
        const changed = await renderer.renderAll(session);
        if (failures > 0) io.log("the server answers again");
        failures = 0;
        if (changed.length > 0) {
          io.log(`changed: ${changed.join(", ")}`);
          if (config.onChange !== undefined) await runOnChange(config.onChange, changed, { signalProcess: config.signalProcess, log: io.log });
        }
      } catch (err) {
        if (signal.aborted) break;
        failures++;
        io.log(`refresh failed (attempt ${failures}, retrying with backoff): ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    io.log("stopping");
  } finally {
    await session.close();
  }
}
