import { afterAll, beforeAll, beforeEach } from "vitest";
import { startServerProcess, type ServerProcess } from "../helpers/process.js";

/**
 * Starts the built server in dev mode for one compatibility suite, then runs
 * `prepare` (a client run whose results the tests read). vitest reports a
 * suite's tests as skipped when beforeAll throws, so the start is awaited in
 * beforeEach instead: a server or client that failed fails every test.
 */
export function devServerForSuite<T = undefined>(
  rootToken: string,
  prepare: (server: ServerProcess) => Promise<T> = async () => undefined as T,
): { server: () => ServerProcess; prepared: () => T } {
  let started: Promise<{ server: ServerProcess; prepared: T }>;
  let current: { server: ServerProcess; prepared: T } | undefined;
  beforeAll(() => {
    started = (async () => {
      const server = await startServerProcess(["--dev", "--dev-root-token", rootToken, "--dev-listen-address", "127.0.0.1:0"]);
      try {
        return { server, prepared: await prepare(server) };
      } catch (err) {
        await server.stop();
        throw err;
      }
    })();
    started.catch(() => {}); // reported by beforeEach, once per test
  });
  beforeEach(async () => {
    current = await started;
  }, 120_000);
  afterAll(async () => {
    await (await started.catch(() => undefined))?.server.stop();
  });
  const get = () => {
    if (!current) throw new Error("the dev server is not running");
    return current;
  };
  return { server: () => get().server, prepared: () => get().prepared };
}
