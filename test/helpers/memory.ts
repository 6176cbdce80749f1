import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

/**
 * The heap in use after a full collection, in MiB: what a fuzzer's cases
 * left behind, without the garbage that RSS still counts until V8 collects it.
 */
export function liveHeapMb(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed / 1024 / 1024;
}
