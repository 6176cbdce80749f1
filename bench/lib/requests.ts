import type { Request } from "autocannon";

/**
 * Load process: POSTs `bodies` (as JSON) in turn to `path`, for scenarios in
 * which every request carries a different token or JWT.
 */
export function postEach(args: { path: string; headers?: Record<string, string>; bodies: unknown[] }): Request[] {
  const bodies = args.bodies.map((b) => JSON.stringify(b));
  let i = 0;
  return [
    {
      method: "POST",
      path: args.path,
      headers: { "content-type": "application/json", ...args.headers },
      setupRequest: (req) => ({ ...req, body: bodies[i++ % bodies.length] }),
    },
  ];
}

/** This module, for a LoadSpec's `dynamic.module`. */
export const REQUESTS_MODULE = import.meta.url;
