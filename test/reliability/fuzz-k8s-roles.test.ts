import fc from "fast-check";
import { stringify } from "yaml";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { REFERENCE_YAML } from "../../src/secrets/kubernetes/test-harness.js";
import { liveHeapMb } from "../helpers/memory.js";
import { devServer, type DevServer, type TestResponse } from "../helpers/server.js";

const SEED = 15;
const CASES = 2000;
const RBAC = "rbac.authorization.k8s.io/v1";
const FIELDS = [
  "service_account_name",
  "kubernetes_role_name",
  "kubernetes_role_type",
  "generated_role_rules",
  "role_binding_yaml",
  "allowed_kubernetes_namespaces",
  "allowed_kubernetes_namespace_selector",
  "target",
  "token_default_ttl",
  "token_max_ttl",
  "token_default_audiences",
  "extra_labels",
  "extra_annotations",
  "name_template",
];
/** Strings that are valid UTF-16 only in part: lone surrogates, NUL, BOM, noncharacters, controls, a right-to-left mark. */
const ODD = ["\uD800", "\uDFFF", "\u0000", "\uFEFF", "\uFFFE", "\uFFFF", "\u001B[31m", "\u202E", "\r\n", "\t", "é", "😀"];
const YAML_TOKENS = ["---\n", "...\n", "&a ", "*a", "<<: *a\n", "!!binary ", "!!str ", "? ", ": ", "- ", "[", "]", "{", "}", "'", '"', "#", "|\n", ">\n", "%YAML 1.1\n", "\t", "  ", "\n", ...ODD];

/** A billion-laughs document: each level is ten aliases of the one below. */
function yamlBomb(levels: number): string {
  const lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"];
  for (let i = 1; i <= levels; i++) lines.push(`a${i}: &a${i} [${Array.from({ length: 10 }, () => `*a${i - 1}`).join(", ")}]`);
  return `${lines.join("\n")}\nkind: Role\n`;
}

const oddString = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.constantFrom(...ODD),
  fc.array(fc.constantFrom(...ODD, "a", "-", "."), { maxLength: 6 }).map((parts) => parts.join("")),
);
const verb = fc.oneof(fc.constantFrom("get", "list", "watch", "create", "update", "patch", "delete", "*", "impersonate", "escalate", "bind"), oddString);
const resource = fc.oneof(fc.constantFrom("pods", "secrets", "pods/log", "*", "deployments", "nodes"), oddString);
const apiGroup = fc.oneof(fc.constantFrom("", "apps", "*", "rbac.authorization.k8s.io"), oddString);
const listOrValue = <T>(arb: fc.Arbitrary<T>) => fc.oneof(fc.array(arb, { maxLength: 3 }), arb, fc.anything({ maxDepth: 2 }));
const rule = fc.record(
  {
    apiGroups: listOrValue(apiGroup),
    resources: listOrValue(resource),
    resourceNames: listOrValue(oddString),
    verbs: listOrValue(verb),
    nonResourceURLs: listOrValue(fc.constantFrom("/healthz", "/metrics", "*", "")),
    extra: fc.anything({ maxDepth: 1 }),
  },
  { requiredKeys: [] },
);
const rules = fc.oneof(fc.array(rule, { maxLength: 4 }), rule, fc.anything({ maxDepth: 3 }));
const kind = fc.oneof(fc.constantFrom("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding", "ServiceAccount", "Pod", "role", ""), oddString);
const apiVersion = fc.oneof(fc.constantFrom(RBAC, "rbac.authorization.k8s.io/v1beta1", "v1", "rbac.authorization.k8s.io/v2", undefined), oddString);
const name = fc.oneof(fc.constantFrom("example-role", "view", "edit"), oddString);
const roleDoc = fc.record(
  { apiVersion, kind: fc.oneof(fc.constantFrom("Role", "ClusterRole"), kind), metadata: fc.oneof(fc.record({ name }), fc.anything({ maxDepth: 1 })), rules },
  { requiredKeys: ["kind"] },
);
const bindingDoc = fc.record(
  {
    apiVersion,
    kind: fc.oneof(fc.constantFrom("RoleBinding", "ClusterRoleBinding"), kind),
    metadata: fc.record({ name }),
    roleRef: fc.oneof(fc.record({ apiGroup: fc.constant("rbac.authorization.k8s.io"), kind: fc.oneof(fc.constantFrom("Role", "ClusterRole"), kind), name }, { requiredKeys: [] }), fc.anything({ maxDepth: 1 })),
    subjects: fc.anything({ maxDepth: 2 }),
  },
  { requiredKeys: ["kind"] },
);

/** Documents built from parts, joined as a YAML stream, a JSON list, or one document. */
const structuredDefinition = fc
  .tuple(fc.array(fc.oneof(roleDoc, bindingDoc, fc.anything({ maxDepth: 2 })), { minLength: 1, maxLength: 4 }), fc.constantFrom("stream", "json", "flow", "object"))
  .map(([docs, shape]): unknown => {
    if (shape === "stream") return docs.map((d) => stringify(d ?? null)).join("---\n");
    if (shape === "json") return JSON.stringify(docs);
    if (shape === "flow") return docs.map((d) => stringify(d ?? null, { collectionStyle: "flow" })).join("\n---\n");
    return docs.length === 1 ? docs[0] : docs;
  });

/** Reference 001's Role and RoleBinding with a few of their fields replaced; mostly still valid. */
const maybe = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { freq: 4, nil: undefined });
const tweakedReference = fc
  .record({
    roleKind: maybe(fc.constantFrom("ClusterRole", "Role")),
    bindingKind: maybe(fc.constantFrom("ClusterRoleBinding", "RoleBinding")),
    refName: maybe(name),
    roleApiVersion: maybe(apiVersion),
    rules: maybe(fc.array(fc.record({ apiGroups: fc.array(apiGroup, { maxLength: 2 }), resources: fc.array(resource, { maxLength: 2 }), verbs: fc.array(verb, { minLength: 1, maxLength: 3 }) }), { maxLength: 3 })),
    json: fc.boolean(),
  })
  .map((t) => {
    const roleKind = t.roleKind ?? "Role";
    const role = { apiVersion: t.roleApiVersion ?? RBAC, kind: roleKind, metadata: { name: "example-role" }, rules: t.rules ?? [{ apiGroups: [""], resources: ["pods"], verbs: ["list"] }] };
    const binding = {
      apiVersion: RBAC,
      kind: t.bindingKind ?? "RoleBinding",
      metadata: { name: "example-role" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: roleKind, name: t.refName ?? "example-role" },
    };
    return t.json ? JSON.stringify([role, binding]) : `${stringify(role)}---\n${stringify(binding)}`;
  });

/** Reference 001's example with bytes cut and YAML syntax inserted. */
const mutatedReference = fc
  .tuple(fc.nat(REFERENCE_YAML.length), fc.nat(24), fc.array(fc.constantFrom(...YAML_TOKENS), { maxLength: 5 }))
  .map(([at, cut, extra]) => REFERENCE_YAML.slice(0, at) + extra.join("") + REFERENCE_YAML.slice(at + cut));

/** The reference example with its rule shared through an anchor, a merge key, or an alias chain. */
const aliased = fc.constantFrom(
  REFERENCE_YAML.replace("rules:\n- apiGroups", "rules:\n- &r apiGroups").replace('verbs: ["list"]', 'verbs: ["list"]\n- *r'),
  `base: &b {apiVersion: ${RBAC}}\n---\n${REFERENCE_YAML}`,
  REFERENCE_YAML.replace("kind: Role\nmetadata", "<<: {kind: Role}\nmetadata"),
  `x: &x [*x]\n`,
  `- &a [a]\n- *a\n- *b\n`,
  yamlBomb(3),
  yamlBomb(9),
);

/** Huge or deeply nested: many rules, long strings, nested flow or block collections. */
const big = fc.oneof(
  fc.integer({ min: 100, max: 5000 }).map((n) => REFERENCE_YAML.replace('verbs: ["list"]', `verbs: [${Array.from({ length: n }, (_, i) => `"v${i}"`).join(", ")}]`)),
  fc.integer({ min: 1000, max: 400_000 }).map((n) => REFERENCE_YAML.replace("example-role", "r".repeat(n))),
  fc.integer({ min: 50, max: 20_000 }).map((n) => `${"[".repeat(n)}${"]".repeat(n)}`),
  fc.integer({ min: 1000, max: 200_000 }).map((n) => `kind: ${"k".repeat(n)}\n---\n${REFERENCE_YAML}`),
  fc.integer({ min: 1000, max: 200_000 }).map((n) => REFERENCE_YAML.replace("verbs:", `${"v".repeat(n)}: [x]\n  verbs:`)),
  fc.integer({ min: 50, max: 3000 }).map((n) => Array.from({ length: n }, (_, i) => `${" ".repeat(i)}k:`).join("\n")),
  fc.integer({ min: 50, max: 3000 }).map((n) => Array.from({ length: n }, (_, i) => `${" ".repeat(i * 2)}- `).join("\n")),
);

const definition = fc.oneof(
  { weight: 4, arbitrary: mutatedReference },
  { weight: 4, arbitrary: structuredDefinition },
  { weight: 4, arbitrary: tweakedReference },
  { weight: 1, arbitrary: aliased },
  { weight: 1, arbitrary: big },
  { weight: 1, arbitrary: fc.oneof(oddString, fc.anything({ maxDepth: 3 })) },
);
const generatedRules = fc.oneof(
  { weight: 3, arbitrary: rules },
  { weight: 3, arbitrary: rules.map((r) => JSON.stringify(r ?? null)) },
  { weight: 3, arbitrary: rules.map((r) => stringify({ rules: r ?? null })) },
  { weight: 3, arbitrary: rules.map((r) => stringify(r ?? null)) },
  { weight: 3, arbitrary: fc.tuple(fc.nat(60), fc.array(fc.constantFrom(...YAML_TOKENS), { maxLength: 4 })).map(([at, extra]) => {
    const text = `rules:\n- apiGroups: [""]\n  resources: ["pods"]\n  verbs: ["get", "list"]\n`;
    return text.slice(0, at) + extra.join("") + text.slice(at);
  }) },
  { weight: 1, arbitrary: big },
);

/**
 * The other fields: mostly absent or plausible; with `odd`, sometimes odd or
 * of the wrong type. Half the cases keep them plausible, so that the
 * definition alone decides.
 */
const wrong = fc.anything({ maxDepth: 2 });
const otherFieldsOf = (odd: boolean) => {
  const field = <T>(plausible: fc.Arbitrary<T>, bad: fc.Arbitrary<unknown> = wrong) =>
    fc.oneof({ weight: 12, arbitrary: fc.constant(undefined) }, { weight: 6, arbitrary: plausible }, { weight: odd ? 2 : 0, arbitrary: bad });
  return fc.record({
    allowed_kubernetes_namespaces: fc.oneof(
      { weight: 12, arbitrary: fc.constantFrom(["team-a"], "*", "team-a,team-b", ["*"]) },
      { weight: odd ? 1 : 0, arbitrary: fc.array(oddString, { maxLength: 3 }) },
      { weight: odd ? 1 : 0, arbitrary: wrong },
    ),
    allowed_kubernetes_namespace_selector: field(
      fc.constantFrom('{"matchLabels":{"team":"a"}}', "matchExpressions:\n- {key: team, operator: In, values: [a]}\n"),
      fc.oneof(fc.constantFrom("matchLabels: *x\n", "[", "matchLabels: {a: [b]}", "{matchExpressions: [{key: a, operator: Exists, values: [b]}]}"), wrong),
    ),
    kubernetes_role_type: field(fc.constantFrom("Role", "ClusterRole", "clusterrole"), fc.oneof(fc.constant("Group"), wrong)),
    target: field(fc.constant(""), fc.oneof(fc.constantFrom("missing", "../x"), oddString)),
    token_default_ttl: field(fc.constantFrom("1h", "30m", 60, "0"), fc.oneof(fc.constantFrom("-1s", "1y", "forever", 1e308, -5, "9".repeat(40)), wrong)),
    token_max_ttl: field(fc.constantFrom("2h", 7200, ""), fc.oneof(fc.constantFrom("10000000h", "1m"), wrong)),
    token_default_audiences: field(fc.constantFrom(["vault"], "a,b"), fc.oneof(fc.array(oddString, { maxLength: 2 }), wrong)),
    extra_labels: field(
      fc.constantFrom({ team: "a" }, { "example.com/owner": "x" }),
      fc.oneof(fc.constantFrom({ "-bad": "x" }, { a: "b".repeat(70) }, { ["k".repeat(5000)]: 1 }), fc.dictionary(oddString, oddString, { maxKeys: 2 }), wrong),
    ),
    extra_annotations: field(fc.constantFrom({ note: "a b" }), fc.oneof(fc.dictionary(oddString, oddString, { maxKeys: 2 }), wrong)),
    name_template: field(fc.constantFrom("{{role}}-{{random}}", "{{random}}"), fc.oneof(fc.constantFrom("x", "{{.Foo}}", "{{random}}{{", "{{random}}".repeat(30)), oddString)),
  });
};
const otherFields = fc.oneof(otherFieldsOf(true), otherFieldsOf(false));

const mode = fc.oneof(
  { weight: 5, arbitrary: definition.map((v) => ({ role_binding_yaml: v })) },
  { weight: 3, arbitrary: generatedRules.map((v) => ({ generated_role_rules: v })) },
  { weight: 1, arbitrary: fc.oneof(fc.constantFrom("view", "edit", "a/b"), oddString).map((v) => ({ kubernetes_role_name: v })) },
  { weight: 1, arbitrary: fc.oneof(fc.constantFrom("app", "default"), oddString).map((v) => ({ service_account_name: v })) },
  { weight: 1, arbitrary: fc.record({ role_binding_yaml: definition, generated_role_rules: generatedRules }, { requiredKeys: [] }) },
);
const body = fc.tuple(mode, otherFields).map(([m, other]) => ({
  ...Object.fromEntries(Object.entries(other).filter(([, v]) => v !== undefined)),
  ...m,
}));

/** A refusal names what it refuses: a field of the role, the body, or the request. */
function namesTheProblem(res: TestResponse): boolean {
  const message = String(res.json.errors?.[0] ?? "");
  // Echoed input is quoted and shortened, never the whole document.
  if (message.length > 600) return false;
  if (res.status === 413) return message.length > 0;
  return FIELDS.some((f) => message.includes(f)) || /target "|role name|request body/.test(message);
}

describe("fuzzing the kubernetes engine's roles through the HTTP API", () => {
  let server: DevServer;
  beforeAll(async () => {
    server = await devServer();
    expect((await server.request("POST", "sys/mounts/kube", { body: { type: "kubernetes" } })).status).toBe(204);
  });
  afterAll(async () => server?.close());

  it(`answers ${CASES} role definitions with 204 or a 4xx naming the problem; accepted roles read back and write back`, async () => {
    const heapBefore = liveHeapMb();
    // yaml's warnings would print pieces of a client's document to stderr.
    const warnings = vi.spyOn(process, "emitWarning");
    const statuses = new Map<number, number>();
    let n = 0;
    console.log(`fuzz-k8s-roles: seed ${SEED}`);
    await fc.assert(
      fc.asyncProperty(body, async (input) => {
        const path = `kube/roles/fuzz-${n++ % 50}`;
        const res = await server.request("POST", path, { body: input });
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        const shown = `${JSON.stringify(input).slice(0, 400)} -> ${res.status} ${res.text.slice(0, 400)}`;
        expect([204, 400, 413], shown).toContain(res.status);
        if (res.status !== 204) {
          expect(namesTheProblem(res), shown).toBe(true);
          return;
        }
        const read = await server.request("GET", path);
        expect(read.status, shown).toBe(200);
        const role = read.json.data as Record<string, unknown>;
        for (const field of ["role_binding_yaml", "generated_role_rules"]) {
          const given: unknown = (input as Record<string, unknown>)[field];
          if (typeof given === "string") expect(role[field], shown).toBe(given.trim());
        }
        // What was read can be written back as it is, and reads back the same.
        const again = await server.request("POST", path, { body: role });
        expect(again.status, `${shown}\nwrite-back -> ${again.text}`).toBe(204);
        expect((await server.request("GET", path)).json.data, shown).toEqual(role);
      }),
      { seed: SEED, numRuns: CASES },
    );
    expect(warnings.mock.calls.map((c) => String(c[0]))).toEqual([]);
    warnings.mockRestore();
    const grownMb = liveHeapMb() - heapBefore;
    const rssMb = process.memoryUsage().rss / 1024 / 1024;
    console.log(`fuzz-k8s-roles: ${CASES} cases, statuses ${JSON.stringify(Object.fromEntries(statuses))}, live heap grew ${grownMb.toFixed(1)} MiB, RSS ${rssMb.toFixed(0)} MiB`);
    expect(grownMb).toBeLessThan(64);
  }, 300_000);

  it.each([6, 9, 12])("refuses a billion-laughs document of %i levels with a 400 naming the field", async (levels) => {
    for (const field of ["role_binding_yaml", "generated_role_rules", "allowed_kubernetes_namespace_selector"]) {
      const mode = field === "allowed_kubernetes_namespace_selector" ? { kubernetes_role_name: "view" } : {};
      const input = { ...mode, allowed_kubernetes_namespaces: ["team-a"], [field]: yamlBomb(levels) };
      const res = await server.request("POST", "kube/roles/bomb", { body: input });
      expect(res.status, res.text).toBe(400);
      expect(res.json.errors[0], res.text).toContain(`"${field}"`);
    }
  }, 10_000);
});
