import { cp, mkdtemp, readdir, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";

/** Written last: a copy without it is partial. */
export const COMPLETE_MARKER = ".latchkey-copy-complete";

/**
 * Copies `from` (the directory holding the executable) into `to`: first into a
 * temp directory inside `to`, then each entry renamed into place (atomic on one
 * file system), then the marker.
 */
export async function copyAgent(from: string, to: string): Promise<void> {
  const staging = await mkdtemp(join(to, ".latchkey-copy-"));
  try {
    await cp(from, staging, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
    for (const entry of await readdir(staging)) {
      await rm(join(to, entry), { recursive: true, force: true });
      await rename(join(staging, entry), join(to, entry));
    }
    await writeFile(join(to, COMPLETE_MARKER), "");
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}
