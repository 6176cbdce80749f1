import { statSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** Reported by sys/health and `latchkey version`. */
export const VERSION = "0.1.0";

/** Baked into the single executable by `npm run package` (esbuild's define); absent when run from a clone. */
declare const __LATCHKEY_BUILD__: { commit: string; date: string } | undefined;
const BAKED = typeof __LATCHKEY_BUILD__ === "undefined" ? undefined : __LATCHKEY_BUILD__;

/** The git commit this build was made from, or "" when it is not known (a clone's `npm run build`). */
export const BUILD_COMMIT = BAKED?.commit ?? "";

/**
 * Vault's `build_date`: when this build was made. In the executable, the time of
 * `npm run package`; from a clone, when tsc wrote this module (it writes every file on each build).
 */
export const BUILD_DATE = BAKED?.date ?? moduleWritten();

function moduleWritten(): string {
  try {
    return statSync(fileURLToPath(import.meta.url)).mtime.toISOString().replace(/\.\d{3}Z$/, "Z");
  } catch {
    return "";
  }
}
