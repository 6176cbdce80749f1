import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { devServer, type DevServer } from "../helpers/server.js";

const CASES = 2000;
const VALID = 'path "secret/data/{{name}}" {\n  capabilities = ["read", "list"]\n}\npath "sys/*" {\n  capabilities = ["deny"]\n}\n';
const TOKENS = ["path", '"', "{", "}", "[", "]", "=", ",", "capabilities", '"read"', '"sudo"', "#", "/*", "*/", "\n", "\\", "+", "*", "min_wrapping_ttl", '"1h"', "allowed_parameters", "{{identity.entity.id}}"];

describe("fuzzing policy documents through sys/policy", () => {
  let server: DevServer;
  beforeAll(async () => {
    server = await devServer();
  });
  afterAll(async () => server?.close());

  it(`answers ${CASES} mutated HCL and JSON policies with 204 or a 400, never a 5xx`, async () => {
    const statuses = new Map<number, number>();
    const mutatedHcl = fc
      .tuple(fc.nat(VALID.length), fc.nat(20), fc.array(fc.constantFrom(...TOKENS), { maxLength: 5 }))
      .map(([at, cut, extra]) => VALID.slice(0, at) + extra.join("") + VALID.slice(at + cut));
    const jsonPolicy = fc
      .record({ path: fc.dictionary(fc.string({ maxLength: 12 }), fc.anything({ maxDepth: 3 }), { maxKeys: 3 }) })
      .map((doc) => JSON.stringify(doc));
    const doc = fc.oneof(mutatedHcl, jsonPolicy, fc.string({ maxLength: 80 }), fc.json({ maxDepth: 4 }));
    let n = 0;
    await fc.assert(
      fc.asyncProperty(doc, async (policy) => {
        const name = `fuzz-${n++ % 50}`;
        const res = await server.request("PUT", `sys/policy/${name}`, { body: { policy } });
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        expect([204, 400], `${JSON.stringify(policy)} -> ${res.status} ${res.text}`).toContain(res.status);
        if (res.status === 204) {
          // What was accepted reads back.
          expect((await server.request("GET", `sys/policy/${name}`)).status).toBe(200);
        }
      }),
      { seed: 15, numRuns: CASES },
    );
    console.log(`fuzz-policy: ${CASES} cases, statuses ${JSON.stringify(Object.fromEntries(statuses))}`);
  }, 240_000);
});
