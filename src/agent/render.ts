import { createHash } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { readIfExists, writeFileAtomic } from "./atomic-write.js";
import type { SecretSpec } from "./config.js";
import { AgentError, type AgentSession } from "./session.js";
import { TemplateError, renderTemplate } from "./template.js";

export function destinationOf(spec: SecretSpec, secretsDir: string): string {
  return spec.file ?? join(secretsDir, spec.name);
}

/** The file's content: the template's output, or the JSON of the data. */
export function renderContent(spec: SecretSpec, data: Record<string, unknown>): string {
  if (spec.template === undefined) return `${JSON.stringify(data)}\n`;
  try {
    return renderTemplate(spec.template, data);
  } catch (err) {
    if (err instanceof TemplateError) throw new AgentError(`rendering the template of ${spec.name}`, err.message, false);
    throw err;
  }
}

const digest = (text: string) => createHash("sha256").update(text).digest("hex");

/**
 * Remembers what each file last held (as a digest, not the secret) so a file is
 * rewritten, and the on-change action run, only when its content really changed.
 */
export interface Renderer {
  /** Reads every secret, writes the files whose content changed, returns their names. */
  renderAll(session: AgentSession): Promise<string[]>;
}

export function createRenderer(specs: readonly SecretSpec[], secretsDir: string): Renderer {
  const last = new Map<string, string>();
  return {
    async renderAll(session) {
      // Everything is read and rendered before anything is written: one failing secret leaves all files as they were.
      const rendered: { spec: SecretSpec; content: string; hash: string }[] = [];
      for (const spec of specs) {
        const content = renderContent(spec, await session.readSecret(spec.path));
        rendered.push({ spec, content, hash: digest(content) });
      }
      const changed: string[] = [];
      for (const { spec, content, hash } of rendered) {
        const dest = destinationOf(spec, secretsDir);
        let previous = last.get(spec.name);
        if (previous === undefined) {
          const onDisk = await readIfExists(dest).catch(() => undefined);
          previous = onDisk === undefined ? undefined : digest(onDisk);
        }
        if (previous !== hash) {
          try {
            await mkdir(dirname(dest), { recursive: true });
            await writeFileAtomic(dest, content, spec.mode);
          } catch (err) {
            throw new AgentError(`writing ${dest}`, err instanceof Error ? err.message : String(err), false);
          }
          changed.push(spec.name);
        }
        last.set(spec.name, hash);
      }
      return changed;
    },
  };
}
