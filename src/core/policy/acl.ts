import type { Operation } from "../types.js";
import { ROOT_POLICY_NAME } from "./builtin.js";
import {
  ALL_BUT_DENY,
  capabilitiesOf,
  capabilityBit,
  checkGrantParameters,
  DENY,
  grantOf,
  mergeGrants,
  permissionsOf,
  type Grant,
} from "./grant.js";
import {
  compilePattern,
  isTemplated,
  matchesPath,
  outranks,
  resolveTemplate,
  templateParts,
  type CompiledPattern,
  type TemplatePart,
} from "./pattern.js";
import { createSegmentTrie } from "./segment-trie.js";
import type { Acl, AclCheck, AclContext, AclPermissions, Policy } from "./types.js";

interface Entry {
  compiled: CompiledPattern;
  grant: Grant;
}

interface TemplatedEntry {
  parts: TemplatePart[];
  grant: Grant;
}

const NO_METADATA: AclContext = { metadata: {} };

/** Distinct metadata value combinations whose resolved templated rules an ACL keeps. */
const TEMPLATE_CACHE_SIZE = 1024;

/**
 * Compiles policies into one ACL. Rules with the same pattern are merged
 * across policies (deny overrides); for a request path the most specific
 * matching pattern wins by Vault's priority order (see `outranks`).
 *
 * A check does not scan every rule: exact paths are one map lookup, `*`
 * prefixes one lookup per distinct prefix length, and `+` patterns sit in a
 * trie over path segments. Templated rules depend on the token; they are
 * resolved once per combination of the metadata values they use and cached.
 */
export function compileAcl(policies: Policy[]): Acl {
  const names = [...new Set(policies.map((p) => p.name))].sort();
  if (names.includes(ROOT_POLICY_NAME)) return rootAcl(names);

  const staticGrants = new Map<string, Grant>();
  const templatedGrants = new Map<string, TemplatedEntry>();
  for (const policy of policies) {
    for (const rule of policy.rules) {
      const parts = templateParts(rule.path);
      const grant = grantOf(rule);
      if (isTemplated(parts)) {
        const existing = templatedGrants.get(rule.path);
        templatedGrants.set(rule.path, { parts, grant: existing ? mergeGrants(existing.grant, grant) : grant });
      } else {
        const existing = staticGrants.get(rule.path);
        staticGrants.set(rule.path, existing ? mergeGrants(existing, grant) : grant);
      }
    }
  }

  const exact = new Map<string, Entry>();
  const prefixes = new Map<string, Entry>();
  const segmentRules = createSegmentTrie<Entry>();
  for (const [pattern, grant] of staticGrants) {
    const entry = { compiled: compilePattern(pattern), grant };
    if (entry.compiled.segments) segmentRules.insert(entry);
    else (entry.compiled.prefix ? prefixes : exact).set(entry.compiled.literal, entry);
  }
  const prefixLengths = [...new Set([...prefixes.keys()].map((k) => k.length))].sort((a, b) => b - a);

  const templated = [...templatedGrants.values()];
  const templateKeys = [
    ...new Set(templated.flatMap((t) => t.parts.flatMap((p) => (typeof p === "string" ? [] : [p.metadataKey])))),
  ];
  const resolvedCache = new Map<string, Entry[]>();

  function bestStatic(path: string): Entry | undefined {
    const hit = exact.get(path);
    if (hit) return hit;
    let best: Entry | undefined;
    for (const length of prefixLengths) {
      if (length > path.length) continue;
      best = prefixes.get(path.slice(0, length));
      if (best) break;
    }
    for (const entry of segmentRules.matches(path)) {
      if (!best || outranks(entry.compiled, best.compiled)) best = entry;
    }
    return best;
  }

  /** The templated rules resolved against this token's metadata; unresolvable ones are left out. */
  function resolvedFor(ctx: AclContext): Entry[] {
    const key = JSON.stringify(templateKeys.map((k) => (Object.hasOwn(ctx.metadata, k) ? ctx.metadata[k] : null)));
    let resolved = resolvedCache.get(key);
    if (!resolved) {
      resolved = [];
      for (const t of templated) {
        const pattern = resolveTemplate(t.parts, ctx.metadata);
        if (pattern !== undefined) resolved.push({ compiled: compilePattern(pattern), grant: t.grant });
      }
      if (resolvedCache.size >= TEMPLATE_CACHE_SIZE) resolvedCache.clear();
      resolvedCache.set(key, resolved);
    }
    return resolved;
  }

  /** The winning entry for `path`, with templated rules of the same pattern merged in. */
  function lookup(path: string, ctx: AclContext): Entry | undefined {
    const staticBest = bestStatic(path);
    if (templated.length === 0) return staticBest;
    let best = staticBest;
    const matched: Entry[] = [];
    for (const entry of resolvedFor(ctx)) {
      if (!matchesPath(entry.compiled, path)) continue;
      matched.push(entry);
      if (!best || outranks(entry.compiled, best.compiled)) best = entry;
    }
    if (!best || matched.length === 0) return best;
    const winner = best.compiled.pattern;
    let grant = staticBest?.compiled.pattern === winner ? staticBest.grant : undefined;
    for (const m of matched) if (m.compiled.pattern === winner) grant = grant ? mergeGrants(grant, m.grant) : m.grant;
    return grant && { compiled: best.compiled, grant };
  }

  /**
   * A list request may carry a trailing slash (`secret/metadata/`); like
   * Vault, an exact rule for the path without it still applies, and any rule
   * for it applies when nothing matches the path as given.
   */
  function winnerFor(path: string, ctx: AclContext, op?: Operation | "sudo"): Entry | undefined {
    const normalized = path.startsWith("/") ? path.slice(1) : path;
    const found = lookup(normalized, ctx);
    if (op !== "list" || !normalized.endsWith("/") || found?.compiled.firstWildcard === Infinity) return found;
    const trimmed = lookup(normalized.slice(0, -1), ctx);
    if (trimmed && (!found || trimmed.compiled.firstWildcard === Infinity)) return trimmed;
    return found;
  }

  return {
    root: false,
    policies: names,
    check(path, op, ctx = NO_METADATA): AclCheck {
      const winner = winnerFor(path, ctx, op);
      if (!winner || winner.grant.bits & DENY) return { allowed: false, sudo: false, capabilities: ["deny"] };
      const { bits, minWrappingTtl, maxWrappingTtl } = winner.grant;
      return {
        allowed: (bits & capabilityBit(op)) !== 0,
        sudo: (bits & capabilityBit("sudo")) !== 0,
        capabilities: bits === 0 ? ["deny"] : capabilitiesOf(bits),
        ...(minWrappingTtl && { minWrappingTtl }),
        ...(maxWrappingTtl && { maxWrappingTtl }),
      };
    },
    permissions(path, ctx = NO_METADATA, op): AclPermissions | undefined {
      const winner = winnerFor(path, ctx, op);
      return winner && permissionsOf(winner.compiled.pattern, winner.grant);
    },
    checkParameters(path, data, ctx = NO_METADATA) {
      const winner = winnerFor(path, ctx);
      if (!winner) return { allowed: false, reason: "no policy grants access to this path" };
      return checkGrantParameters(winner.grant, data);
    },
  };
}

/** The root policy allows every operation on every path, including sudo; it has no rules to consult. */
function rootAcl(names: string[]): Acl {
  return {
    root: true,
    policies: names,
    check: () => ({ allowed: true, sudo: true, capabilities: capabilitiesOf(ALL_BUT_DENY) }),
    permissions: () => ({ pattern: "*", capabilities: capabilitiesOf(ALL_BUT_DENY) }),
    checkParameters: () => ({ allowed: true }),
  };
}
