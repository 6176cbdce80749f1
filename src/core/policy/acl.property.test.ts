import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Capability } from "../types.js";
import { compileAcl } from "./acl.js";
import { CAPABILITIES, parsePolicy } from "./parse.js";
import type { Policy } from "./types.js";

/**
 * The compiled ACL indexes rules; this reference scans them all with regular
 * expressions and ranks matches with Vault's rules written out a second time.
 * Both must always pick the same winner.
 */
interface RefRule {
  pattern: string;
  caps: Capability[];
}

function referenceCapabilities(rules: RefRule[], path: string, metadata: Record<string, string>): Capability[] {
  const merged = new Map<string, Set<Capability>>();
  for (const rule of rules) {
    const resolved = rule.pattern.replaceAll("{{token.metadata.ns}}", metadata.ns ?? "\0");
    if (resolved.includes("\0")) continue;
    if (!toRegExp(resolved).test(path)) continue;
    const caps = merged.get(resolved) ?? new Set<Capability>();
    for (const c of rule.caps) caps.add(c);
    merged.set(resolved, caps);
  }
  const ranked = [...merged.keys()].sort((a, b) => compare(rank(b), rank(a)));
  if (ranked.length === 0) return ["deny"];
  const caps = merged.get(ranked[0]) ?? new Set<Capability>();
  if (caps.has("deny") || caps.size === 0) return ["deny"];
  return CAPABILITIES.filter((c) => caps.has(c));
}

function toRegExp(pattern: string): RegExp {
  const glob = pattern.endsWith("*");
  const body = glob ? pattern.slice(0, -1) : pattern;
  const source = body
    .split("/")
    .map((s) => (s === "+" ? "[^/]+" : s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")))
    .join("/");
  return new RegExp(`^${source}${glob ? "[^]*" : ""}$`);
}

type Rank = [number, number, number, number, string];
function rank(pattern: string): Rank {
  const wildcards = [pattern.indexOf("+"), pattern.indexOf("*")].filter((i) => i >= 0);
  return [
    wildcards.length ? Math.min(...wildcards) : Number.MAX_SAFE_INTEGER,
    pattern.endsWith("*") ? 0 : 1,
    -pattern.split("/").filter((s) => s === "+").length,
    pattern.length,
    pattern,
  ];
}
function compare(a: Rank, b: Rank): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
  return 0;
}

const segment = fc.constantFrom("a", "b", "ab", "c");
const patternArb = fc
  .tuple(
    fc.array(fc.oneof(segment, fc.constant("+"), fc.constant("{{token.metadata.ns}}")), { minLength: 0, maxLength: 3 }),
    fc.oneof(segment, fc.constant("+"), fc.constantFrom("*", "a*", "ab*")),
  )
  .map(([head, last]) => [...head, last].join("/"));
const capsArb = fc.subarray([...CAPABILITIES], { minLength: 1, maxLength: 3 });
const ruleArb = fc.record({ pattern: patternArb, caps: capsArb });
const pathArb = fc
  .array(fc.constantFrom("a", "b", "ab", "abc", "c", "x", ""), { minLength: 1, maxLength: 5 })
  .map((s) => s.join("/"))
  .filter((p) => !p.startsWith("/")); // check() drops a leading slash; the reference does not

function policiesOf(groups: RefRule[][]): Policy[] {
  return groups.map((rules, i) =>
    parsePolicy(
      `p${i}`,
      rules.map((r) => `path "${r.pattern}" { capabilities = ${JSON.stringify(r.caps)} }`).join("\n"),
    ),
  );
}

describe("compileAcl agrees with a linear reference", () => {
  it("for random rules, policies, paths and metadata", () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(ruleArb, { minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 3 }),
        fc.array(pathArb, { minLength: 1, maxLength: 10 }),
        fc.constantFrom<Record<string, string>>({}, { ns: "a" }, { ns: "b" }, { ns: "x" }),
        (groups, paths, metadata) => {
          const acl = compileAcl(policiesOf(groups));
          const rules = groups.flat();
          for (const path of paths) {
            expect(acl.check(path, "read", { metadata }).capabilities).toEqual(
              referenceCapabilities(rules, path, metadata),
            );
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe("compileAcl with thousands of rules", () => {
  it("answers from its indexes: a check costs about the same with 7,020 rules as with 3", () => {
    const lines: string[] = [];
    for (let i = 0; i < 3000; i++) lines.push(`path "secret/data/app-${i}/config" { capabilities = ["read"] }`);
    for (let i = 0; i < 3000; i++) lines.push(`path "secret/data/team-${i}/*" { capabilities = ["update"] }`);
    for (let i = 0; i < 1000; i++) lines.push(`path "kubernetes/creds/+/role-${i}" { capabilities = ["update"] }`);
    for (let i = 0; i < 20; i++) {
      lines.push(`path "secret/data/{{token.metadata.ns}}/part-${i}/*" { capabilities = ["list"] }`);
    }
    const big = compileAcl([parsePolicy("big", lines.join("\n"))]);
    const small = compileAcl([
      parsePolicy(
        "small",
        [
          `path "secret/data/app-0/config" { capabilities = ["read"] }`,
          `path "secret/data/team-0/*" { capabilities = ["update"] }`,
          `path "kubernetes/creds/+/role-0" { capabilities = ["update"] }`,
        ].join("\n"),
      ),
    ]);
    const ctx = { metadata: { ns: "payments" } };
    const checks = (acl: typeof big, spread: number, rounds: number) => {
      let allowed = 0;
      for (let i = 0; i < rounds; i++) {
        const n = i % spread;
        if (acl.check(`secret/data/app-${n}/config`, "read", ctx).allowed) allowed++;
        if (acl.check(`secret/data/team-${n}/x/y`, "update", ctx).allowed) allowed++;
        if (acl.check(`kubernetes/creds/ns-${n}/role-${n % 1000}`, "update", ctx).allowed) allowed++;
      }
      return allowed;
    };
    // Both are timed in alternating slices, so a busy machine slows both alike;
    // the ratio, not a duration, is asserted.
    let bigMs = 0;
    let smallMs = 0;
    let allowed = 0;
    for (let slice = 0; slice < 10; slice++) {
      let t = performance.now();
      allowed += checks(big, 3000, 10_000);
      bigMs += performance.now() - t;
      t = performance.now();
      checks(small, 1, 10_000);
      smallMs += performance.now() - t;
    }
    expect(allowed).toBe(300_000);
    expect(big.check("secret/data/payments/part-7/x", "list", ctx).allowed).toBe(true);
    expect(big.check("secret/data/app-1/other", "read", ctx).allowed).toBe(false);
    // A linear scan of 7,020 rules would make each check over a thousand times dearer than with 3.
    expect(bigMs / smallMs).toBeLessThan(30);
  });
});
