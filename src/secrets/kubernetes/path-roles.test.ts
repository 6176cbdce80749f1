import { describe, expect, it, vi } from "vitest";
import { engineCore, fakeCluster, HOST, REFERENCE_YAML } from "./test-harness.js";

const setup = () => engineCore(fakeCluster());

const NS = { allowed_kubernetes_namespaces: ["team-a"] };

describe("roles", () => {
  it("stores a fixed-mode role and renders it as Vault's engine does", async () => {
    const { request } = await setup();
    const write = await request("POST", "kube/roles/app", {
      service_account_name: "app",
      allowed_kubernetes_namespaces: "team-a,team-b",
      token_default_ttl: "1h",
      token_max_ttl: "2h",
      token_default_audiences: ["vault"],
      extra_labels: { team: "a" },
      extra_annotations: { "example.com/owner": "a team" },
    });
    expect(write.status).toBe(204);
    expect((await request("GET", "kube/roles/app")).body.data).toEqual({
      service_account_name: "app",
      kubernetes_role_name: "",
      kubernetes_role_type: "Role",
      generated_role_rules: "",
      role_binding_yaml: "",
      allowed_kubernetes_namespaces: ["team-a", "team-b"],
      allowed_kubernetes_namespace_selector: "",
      target: "",
      token_default_ttl: 3600,
      token_max_ttl: 7200,
      token_default_audiences: ["vault"],
      extra_labels: { team: "a" },
      extra_annotations: { "example.com/owner": "a team" },
      name_template: "",
      prepared_credentials: 0,
    });
    expect((await request("LIST", "kube/roles")).body.data).toEqual({ keys: ["app"] });
    expect((await request("DELETE", "kube/roles/app")).status).toBe(204);
    expect((await request("GET", "kube/roles/app")).status).toBe(404);
  });

  it("stores predefined and generated roles; rules in YAML or JSON, a list or {rules}", async () => {
    const { request } = await setup();
    await request("POST", "kube/roles/viewer", { kubernetes_role_name: "view", kubernetes_role_type: "clusterrole", ...NS });
    expect((await request("GET", "kube/roles/viewer")).body.data).toMatchObject({ kubernetes_role_name: "view", kubernetes_role_type: "ClusterRole" });
    const yaml = `rules:\n- apiGroups: [""]\n  resources: ["pods"]\n  verbs: ["list"]\n`;
    for (const rules of [yaml, [{ apiGroups: [""], resources: ["pods"], verbs: ["list"] }], { rules: [{ apiGroups: [""], resources: ["pods"], verbs: ["get"] }] }]) {
      const res = await request("POST", "kube/roles/gen", { generated_role_rules: rules, ...NS });
      expect(res.status, JSON.stringify(res.body)).toBe(204);
    }
    expect((await request("GET", "kube/roles/gen")).body.data.generated_role_rules).toBe(
      `{"rules":[{"apiGroups":[""],"resources":["pods"],"verbs":["get"]}]}`,
    );
  });

  const RULE = [{ apiGroups: [""], resources: ["pods"], verbs: ["list"] }];
  it.each([
    [{ ...NS }, `give exactly one of "service_account_name", "kubernetes_role_name", "generated_role_rules" or "role_binding_yaml"`],
    [{ service_account_name: "a", kubernetes_role_name: "b", ...NS }, `give exactly one of "service_account_name", "kubernetes_role_name", "generated_role_rules" or "role_binding_yaml"`],
    [{ kubernetes_role_name: "b", generated_role_rules: RULE, ...NS }, `give exactly one of "service_account_name", "kubernetes_role_name", "generated_role_rules" or "role_binding_yaml"`],
    [{ service_account_name: "a", kubernetes_role_type: "ClusterRole", ...NS }, `"kubernetes_role_type" applies only with "kubernetes_role_name" or "generated_role_rules"`],
    [{ kubernetes_role_name: "\r\n", ...NS }, `give exactly one of "service_account_name", "kubernetes_role_name", "generated_role_rules" or "role_binding_yaml"`],
    [{ kubernetes_role_name: "..", ...NS }, `field "kubernetes_role_name" must be a Role name`],
    [{ kubernetes_role_name: "a/b", kubernetes_role_type: "ClusterRole", ...NS }, `field "kubernetes_role_name" must be a ClusterRole name`],
    [{ kubernetes_role_name: "b", kubernetes_role_type: "Group", ...NS }, `field "kubernetes_role_type" must be "Role" or "ClusterRole"`],
    [{ service_account_name: "Not_A_Name", ...NS }, `field "service_account_name" must be a service account name (a DNS-1123 subdomain)`],
    [{ service_account_name: "a" }, `"allowed_kubernetes_namespaces" can not be empty ("*" allows any) if "allowed_kubernetes_namespace_selector" is not set`],
    [{ service_account_name: "a", allowed_kubernetes_namespace_selector: "matchLabels: [" }, `invalid "allowed_kubernetes_namespace_selector": not valid JSON or YAML`],
    [{ service_account_name: "a", allowed_kubernetes_namespace_selector: { matchLabels: {} } }, `invalid "allowed_kubernetes_namespace_selector": must have matchLabels or matchExpressions`],
    [{ service_account_name: "a", allowed_kubernetes_namespaces: ["*", "x"] }, `can not mix "*" with values in "allowed_kubernetes_namespaces"`],
    [{ service_account_name: "a", allowed_kubernetes_namespaces: ["Team_A"] }, `field "allowed_kubernetes_namespaces": "Team_A" is not a namespace name`],
    [{ service_account_name: "a", token_default_ttl: "2h", token_max_ttl: "1h", ...NS }, `"token_default_ttl" cannot be greater than "token_max_ttl"`],
    [{ service_account_name: "a", target: "nope", ...NS }, `target "nope" does not exist`],
    [{ service_account_name: "a", extra_labels: { "app.kubernetes.io/managed-by": "me" }, ...NS }, `field "extra_labels": "app.kubernetes.io/managed-by" is set by latchkey itself`],
    [{ service_account_name: "a", extra_labels: { "latchkey.io/lease": "x" }, ...NS }, `field "extra_labels": "latchkey.io/lease" is set by latchkey itself`],
    [{ service_account_name: "a", extra_labels: { team: "not valid!" }, ...NS }, `field "extra_labels": the value of "team" is not a valid label value`],
    [{ service_account_name: "a", extra_annotations: { "bad key!": "x" }, ...NS }, `field "extra_annotations": "bad key!" is not a valid Kubernetes key`],
    [{ service_account_name: "a", prepared_credentials: 9, ...NS }, `field "prepared_credentials" must be a whole number from 0 to 8`],
    [{ service_account_name: "a", prepared_credentials: -1, ...NS }, `field "prepared_credentials" must be a whole number from 0 to 8`],
    [{ service_account_name: "a", name_template: "fixed-name", ...NS }, `field "name_template" must contain {{random}}, so that every lease gets its own names`],
    [{ service_account_name: "a", name_template: "x-{{random}}-{{nope}}", ...NS }, `field "name_template": unknown placeholder "{{nope}}" (use {{role}}, {{random}}, {{unix_time}}, {{display_name}})`],
    [{ service_account_name: "a", name_template: "X_{{random}}", ...NS }, `field "name_template" must make lower-case DNS-1123 names (a-z, 0-9 and "-")`],
    [{ service_account_name: "a", name_template: `${"x".repeat(50)}-{{role}}-{{random}}`, ...NS }, `field "name_template" makes names longer than 63 characters`],
    [{ generated_role_rules: "rules: [", ...NS }, `invalid "generated_role_rules": not valid JSON or YAML`],
    [{ generated_role_rules: [], ...NS }, `invalid "generated_role_rules": rules must contain at least one rule`],
    [{ generated_role_rules: [{ apiGroups: [""], resources: ["pods"] }], ...NS }, `invalid "generated_role_rules": rules[0].verbs must contain at least one value`],
    [{ generated_role_rules: [{ resources: ["pods"], verbs: ["get"] }], ...NS }, `invalid "generated_role_rules": rules[0].apiGroups must contain at least one value ("" is the core group)`],
    [{ generated_role_rules: [{ apiGroups: [""], verbs: ["get"] }], ...NS }, `invalid "generated_role_rules": rules[0].resources must contain at least one value`],
    [{ generated_role_rules: [{ apiGroups: [""], resources: ["pods"], verbs: ["get"], verb: ["x"] }], ...NS }, `invalid "generated_role_rules": rules[0] has unknown key "verb"`],
    [{ generated_role_rules: [{ apiGroups: [""], resources: ["pods"], verbs: [1] }], ...NS }, `invalid "generated_role_rules": rules[0].verbs must be a list of strings`],
    [{ generated_role_rules: [{ nonResourceURLs: ["/healthz"], verbs: ["get"] }], ...NS }, `invalid "generated_role_rules": rules[0]: a Role cannot grant nonResourceURLs (set "kubernetes_role_type" to ClusterRole)`],
    [{ generated_role_rules: [{ nonResourceURLs: ["/healthz"], resources: ["pods"], verbs: ["get"] }], kubernetes_role_type: "ClusterRole", ...NS }, `invalid "generated_role_rules": rules[0]: a rule cannot apply to both resources and nonResourceURLs`],
    [{ generated_role_rules: `${"[".repeat(400)}${"]".repeat(400)}`, ...NS }, `invalid "generated_role_rules": nesting exceeds the maximum depth of 300`],
  ])("refuses %j at write time", async (body, message) => {
    const { request } = await setup();
    const res = await request("POST", "kube/roles/r", body);
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ errors: [message] });
  });

  it("reads a role_binding_yaml document as a generated or predefined role, and writes back what it reads", async () => {
    const { request } = await setup();
    const res = await request("POST", "kube/roles/yaml", { role_binding_yaml: REFERENCE_YAML, ...NS });
    expect(res.status, JSON.stringify(res.body)).toBe(204);
    const read = (await request("GET", "kube/roles/yaml")).body.data;
    expect(read).toMatchObject({ role_binding_yaml: REFERENCE_YAML.trim(), kubernetes_role_type: "Role", kubernetes_role_name: "", generated_role_rules: "" });
    expect((await request("POST", "kube/roles/yaml", read)).status).toBe(204);
    const bindingOnly = `kind: ClusterRoleBinding\napiVersion: rbac.authorization.k8s.io/v1\nroleRef: {kind: ClusterRole, name: view}\nsubjects: [{kind: ServiceAccount, name: ignored, namespace: ignored}]\n`;
    expect((await request("POST", "kube/roles/view", { role_binding_yaml: bindingOnly, ...NS })).status).toBe(204);
  });

  it("writes back a fixed-mode role as it reads, with the default kubernetes_role_type Role", async () => {
    const { request } = await setup();
    expect((await request("POST", "kube/roles/fixed", { service_account_name: "app", ...NS })).status).toBe(204);
    const read = (await request("GET", "kube/roles/fixed")).body.data;
    expect(read).toMatchObject({ service_account_name: "app", kubernetes_role_type: "Role" });
    const again = await request("POST", "kube/roles/fixed", read);
    expect(again.status, JSON.stringify(again.body)).toBe(204);
    expect((await request("GET", "kube/roles/fixed")).body.data).toEqual(read);
  });

  it.each([
    [`kind: Role\nmetadata: {name: r}\nrules: []\n`, `invalid "role_binding_yaml": must contain exactly one RoleBinding or ClusterRoleBinding`],
    [`kind: Pod\n---\nkind: RoleBinding\nroleRef: {kind: Role, name: r}\n`, `invalid "role_binding_yaml": kind "Pod" is not a Role, ClusterRole, RoleBinding or ClusterRoleBinding`],
    [`kind: RoleBinding\nroleRef: {kind: Group, name: r}\n`, `invalid "role_binding_yaml": RoleBinding.roleRef must name a Role or ClusterRole (kind and name)`],
    [`kind: ClusterRoleBinding\nroleRef: {kind: Role, name: r}\n`, `invalid "role_binding_yaml": a ClusterRoleBinding can only refer to a ClusterRole`],
    [`kind: Role\nmetadata: {name: a}\nrules: [{apiGroups: [""], resources: [pods], verbs: [get]}]\n---\nkind: RoleBinding\nroleRef: {kind: Role, name: b}\n`, `invalid "role_binding_yaml": RoleBinding.roleRef (Role "b") does not refer to the Role in the document`],
    [`kind: Role\nmetadata: {name: a}\nrules: [{apiGroups: [""], resources: [pods]}]\n---\nkind: RoleBinding\nroleRef: {kind: Role, name: a}\n`, `invalid "role_binding_yaml": Role.rules[0].verbs must contain at least one value`],
    [`kind: RoleBinding\napiVersion: rbac.authorization.k8s.io/v1beta1\nroleRef: {kind: Role, name: a}\n`, `invalid "role_binding_yaml": RoleBinding must have apiVersion rbac.authorization.k8s.io/v1`],
    [`kind: [`, `invalid "role_binding_yaml": not valid JSON or YAML`],
    [`kind: RoleBinding\nroleRef: {kind: Role, name: ".."}\n`, `invalid "role_binding_yaml": RoleBinding.roleRef.name must be a Role name`],
    [`kind: ClusterRoleBinding\nroleRef: {kind: ClusterRole, name: "a%2fb"}\n`, `invalid "role_binding_yaml": ClusterRoleBinding.roleRef.name must be a ClusterRole name`],
  ])("refuses the role_binding_yaml %j", async (yaml, message) => {
    const { request } = await setup();
    expect((await request("POST", "kube/roles/r", { role_binding_yaml: yaml, ...NS })).body).toEqual({ errors: [message] });
  });

  it("quotes and shortens what a refusal echoes of the input: kinds, role names, keys", async () => {
    const { request } = await setup();
    const long = "k".repeat(100_000);
    const cases: [Record<string, unknown>, string][] = [
      [{ role_binding_yaml: `kind: ${long}\n---\nkind: RoleBinding\nroleRef: {kind: Role, name: r}\n` }, `invalid "role_binding_yaml": kind "${"k".repeat(128)}" is not`],
      [{ role_binding_yaml: REFERENCE_YAML.replace("  kind: Role\n  name: example-role", `  kind: Role\n  name: ${long}`) }, `(Role "${"k".repeat(128)}") does not refer`],
      [{ generated_role_rules: [{ [long]: ["x"], verbs: ["get"] }] }, `rules[0] has unknown key "${"k".repeat(128)}"`],
      [{ kubernetes_role_name: "view", allowed_kubernetes_namespace_selector: { [long]: {} } }, `unknown key "${"k".repeat(128)}"`],
      [{ kubernetes_role_name: "view", allowed_kubernetes_namespace_selector: { matchLabels: { [long]: 1 } } }, `matchLabels "${"k".repeat(128)}" must be a string`],
      [{ service_account_name: "a", extra_labels: { [long]: 1 } }, `the value of "${"k".repeat(128)}" must be a string`],
      [{ role_binding_yaml: 'kind: "a\\"b"\n---\nkind: RoleBinding\nroleRef: {kind: Role, name: r}\n' }, `kind "a\\"b" is not`],
    ];
    for (const [body, part] of cases) {
      const res = await request("POST", "kube/roles/r", { ...body, ...NS });
      expect(res.status).toBe(400);
      expect(res.body.errors[0]).toContain(part);
      expect(res.body.errors[0].length).toBeLessThan(400);
    }
  });

  it("prints no yaml warnings (with pieces of the document) to stderr while reading a client's YAML", async () => {
    const { request } = await setup();
    const warnings = vi.spyOn(process, "emitWarning").mockImplementation(() => undefined);
    try {
      const secretish = "s3cr3t-in-a-key";
      await request("POST", "kube/roles/r", { generated_role_rules: `? [${secretish}]\n: x\n`, ...NS });
      await request("POST", "kube/roles/r", { role_binding_yaml: `? {${secretish}: 1}\n: x\n`, ...NS });
      await request("POST", "kube/roles/r", { kubernetes_role_name: "view", allowed_kubernetes_namespace_selector: `? [${secretish}]\n: x\n` });
      await request("POST", "kube/roles/r", { role_binding_yaml: `kind: *a:\n`, ...NS });
      expect(warnings.mock.calls.map((c) => String(c[0]))).toEqual([]);
    } finally {
      warnings.mockRestore();
    }
  });

  it("refuses a kubernetes_role_type that contradicts role_binding_yaml", async () => {
    const { request } = await setup();
    const res = await request("POST", "kube/roles/r", { role_binding_yaml: REFERENCE_YAML, kubernetes_role_type: "ClusterRole", ...NS });
    expect(res.body).toEqual({ errors: [`"kubernetes_role_type" ClusterRole contradicts the Role of "role_binding_yaml"`] });
  });

  it("accepts non-resource URLs in a generated ClusterRole, and a role naming an existing target", async () => {
    const { request } = await setup();
    await request("POST", "kube/targets/prod", { kubernetes_host: HOST, service_account_jwt: "t" });
    const res = await request("POST", "kube/roles/health", {
      generated_role_rules: [{ nonResourceURLs: ["/healthz"], verbs: ["get"] }],
      kubernetes_role_type: "ClusterRole",
      target: "prod",
      allowed_kubernetes_namespaces: ["*"],
    });
    expect(res.status, JSON.stringify(res.body)).toBe(204);
  });
});
