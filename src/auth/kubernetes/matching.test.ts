import { describe, expect, it } from "vitest";
import { checkStarAlone, globMatch } from "../../core/glob.js";
import { parseNamespaceSelector, selectorMatches } from "./namespace-selector.js";

describe("globMatch", () => {
  it.each([
    ["myapp", "myapp", true],
    ["myapp", "myapp2", false],
    ["*", "", true],
    ["*", "anything", true],
    ["app-*", "app-web", true],
    ["app-*", "app-", true],
    ["app-*", "web-app", false],
    ["*-prod", "team-a-prod", true],
    ["team-*-prod", "team-a-prod", true],
    ["team-*-prod", "team-prod", false],
    ["a*b*c", "abc", true],
    ["a*b*c", "axxbyyc", true],
    ["a*b*c", "acb", false],
    ["ab*ba", "aba", false],
    ["a?c", "abc", false],
  ])("%s against %s is %s", (pattern, value, expected) => {
    expect(globMatch(pattern, value)).toBe(expected);
  });

  it("takes linear-ish time on a pathological pattern", () => {
    const started = performance.now();
    expect(globMatch(`${"*a".repeat(200)}*b`, "a".repeat(20_000))).toBe(false);
    // Backtracking would take longer than the age of the universe; the bound leaves room for a loaded machine.
    expect(performance.now() - started).toBeLessThan(5_000);
  });
});

describe("checkStarAlone", () => {
  it("accepts * alone and lists of globs; refuses * mixed in, and blanks", () => {
    expect(() => checkStarAlone(["*"], "f")).not.toThrow();
    expect(() => checkStarAlone(["a-*", "b"], "f")).not.toThrow();
    expect(() => checkStarAlone(["*", "b"], "f")).toThrow('can not mix "*" with values in "f"');
    expect(() => checkStarAlone([" "], "f")).toThrow('"f" must not contain empty entries');
  });
});

describe("namespace selector", () => {
  const labels = { team: "a", tier: "gold" };
  it.each([
    ['{"matchLabels": {"team": "a"}}', true],
    ['{"matchLabels": {"team": "a", "tier": "tin"}}', false],
    ["matchExpressions:\n- {key: team, operator: In, values: [a, b]}", true],
    ["matchExpressions:\n- {key: team, operator: NotIn, values: [a]}", false],
    ["matchExpressions:\n- {key: env, operator: NotIn, values: [prod]}", true],
    ["matchExpressions:\n- {key: tier, operator: Exists}", true],
    ["matchExpressions:\n- {key: env, operator: Exists}", false],
    ["matchExpressions:\n- {key: env, operator: DoesNotExist}", true],
    ["matchLabels: {team: a}\nmatchExpressions:\n- {key: tier, operator: In, values: [tin]}", false],
  ])("%s → %s", (text, expected) => {
    expect(selectorMatches(parseNamespaceSelector(text), labels)).toBe(expected);
  });

  it.each([
    ["[1]", "must be an object with matchLabels and/or matchExpressions"],
    ["matchLabel: {a: b}", 'unknown key "matchLabel"'],
    ["matchLabels: [a]", "matchLabels must be a map of strings"],
    ["matchLabels: {a: 1}", 'matchLabels "a" must be a string'],
    ["matchExpressions: {}", "matchExpressions must be a list"],
    ["matchExpressions: [x]", "matchExpressions[0] must be an object"],
    ["matchExpressions: [{operator: Exists}]", "matchExpressions[0].key must be a non-empty string"],
    ["matchExpressions: [{key: a, operator: Gt, values: ['1']}]", "matchExpressions[0].operator must be one of In, NotIn, Exists, DoesNotExist"],
    ["matchExpressions: [{key: a, operator: In}]", "matchExpressions[0]: In needs values"],
    ["matchExpressions: [{key: a, operator: Exists, values: [x]}]", "matchExpressions[0]: Exists takes no values"],
    ["matchExpressions: [{key: a, operator: In, values: [1]}]", "matchExpressions[0].values must be a list of strings"],
    // Alias expansion ("billion laughs") is bounded.
    [`a: &a [x, x, x, x, x, x]\nb: &b [${"*a, ".repeat(12)}*a]\nc: [${"*b, ".repeat(12)}*b]`, "not valid JSON or YAML"],
  ])("refuses %s", (text, why) => {
    expect(() => parseNamespaceSelector(text)).toThrow(`invalid "bound_service_account_namespace_selector": ${why}`);
  });
});
