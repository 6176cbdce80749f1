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
  it("answers from its indexes", () => {
    const lines: string[] = [];
    for (let i = 0; i < 3000; i++) lines.push(`path "secret/data/app-${i}/config" { capabilities = ["read"] }`);
    for (let i = 0; i < 3000; i++) lines.push(`path "secret/data/team-${i}/*" { capabilities = ["update"] }`);
    for (let i = 0; i < 1000; i++) lines.push(`path "kubernetes/creds/+/role-${i}" { capabilities = ["update"] }`);
    for (let i = 0; i < 20; i++) {
      lines.push(`path "secret/data/{{token.metadata.ns}}/part-${i}/*" { capabilities = ["list"] }`);
    }
    const acl = compileAcl([parsePolicy("big", lines.join("\n"))]);
    const ctx = { metadata: { ns: "payments" } };

    const started = performance.now();
    let allowed = 0;
    for (let i = 0; i < 100_000; i++) {
      const n = i % 3000;
      if (acl.check(`secret/data/app-${n}/config`, "read", ctx).allowed) allowed++;
      if (acl.check(`secret/data/team-${n}/x/y`, "update", ctx).allowed) allowed++;
      if (acl.check(`kubernetes/creds/ns-${n}/role-${n % 1000}`, "update", ctx).allowed) allowed++;
    }
    const elapsed = performance.now() - started;
    expect(allowed).toBe(300_000);
    expect(acl.check("secret/data/payments/part-7/x", "list", ctx).allowed).toBe(true);
    expect(acl.check("secret/data/app-1/other", "read", ctx).allowed).toBe(false);
    // A linear scan of 7,020 rules for 300,000 checks takes far longer; this bound only catches that.
    expect(elapsed).toBeLessThan(10_000);
  });
});
