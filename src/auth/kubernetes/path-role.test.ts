import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { EMPTY_ROLE } from "./path-role.js";
import { getRole, putRole } from "./store.js";
import { type ClusterKeys, type K8sHarness, clusterKeys, createK8sHarness } from "./test-harness.js";

const bad = (message: string) => ({ status: 400, message });

let keys: ClusterKeys;
let h: K8sHarness;

beforeAll(async () => {
  keys = await clusterKeys();
});

beforeEach(async () => {
  h = await createK8sHarness(keys);
});

const DEMO = { bound_service_account_names: "myapp", bound_service_account_namespaces: "default" };

describe("role: write and read", () => {
  it("stores the reference role (legacy policies and ttl) under the token_ names", async () => {
    await h.write("role/demo", { ...DEMO, policies: "default", ttl: "1h" });
    expect(await h.call("read", "role/demo")).toEqual({
      data: {
        alias_name_source: "serviceaccount_uid",
        audience: "",
        bound_config_names: [],
        bound_pod_names: [],
        bound_service_account_names: ["myapp"],
        bound_service_account_namespace_selector: "",
        bound_service_account_namespaces: ["default"],
        token_bound_cidrs: [],
        token_explicit_max_ttl: 0,
        token_max_ttl: 0,
        token_no_default_policy: false,
        token_num_uses: 0,
        token_period: 0,
        token_policies: ["default"],
        token_ttl: 3600,
        token_type: "default",
      },
    });
  });

  it("prefers the token_ name over the legacy one", async () => {
    await h.write("role/demo", { ...DEMO, policies: "old", token_policies: "new", max_ttl: 60, token_max_ttl: 120 });
    expect((await h.call("read", "role/demo"))?.data).toMatchObject({ token_policies: ["new"], token_max_ttl: 120 });
  });

  it("changes only the fields a later write names", async () => {
    await h.write("role/demo", { ...DEMO, token_policies: "a", bound_pod_names: "web-*" });
    await h.write("role/demo", { token_ttl: 60 });
    expect((await h.call("read", "role/demo"))?.data).toMatchObject({
      bound_service_account_names: ["myapp"],
      token_policies: ["a"],
      bound_pod_names: ["web-*"],
      token_ttl: 60,
    });
  });

  it("renders one audience as Vault's string and several as a list", async () => {
    await h.write("role/demo", { ...DEMO, audience: "vault" });
    expect((await h.call("read", "role/demo"))?.data?.audience).toBe("vault");
    await h.write("role/demo", { audience: ["a", "b"] });
    expect((await h.call("read", "role/demo"))?.data?.audience).toEqual(["a", "b"]);
    await h.write("role/demo", { audience: "a,b,c" });
    expect((await h.call("read", "role/demo"))?.data?.audience).toEqual(["a", "b", "c"]);
  });

  it("keeps a namespace selector as written, YAML or JSON; an object body is stored as JSON", async () => {
    const yaml = "matchLabels:\n  team: a\n";
    await h.write("role/sel", { bound_service_account_names: "*", bound_service_account_namespace_selector: yaml });
    expect((await h.call("read", "role/sel"))?.data?.bound_service_account_namespace_selector).toBe(yaml.trim());
    await h.write("role/sel", { bound_service_account_namespace_selector: { matchLabels: { team: "b" } } });
    expect((await h.call("read", "role/sel"))?.data?.bound_service_account_namespace_selector).toBe('{"matchLabels":{"team":"b"}}');
  });

  it("lists roles on role and role/, 404 when none; deletes", async () => {
    await expect(h.call("list", "role")).rejects.toMatchObject({ status: 404 });
    await h.write("role/b", DEMO);
    await h.write("role/a", DEMO);
    expect(await h.call("list", "role/")).toEqual({ data: { keys: ["a", "b"] } });
    await h.call("delete", "role/a");
    expect(await h.call("list", "role")).toEqual({ data: { keys: ["b"] } });
    await expect(h.call("read", "role/a")).rejects.toMatchObject({ status: 404, message: "" });
  });

  it("tells create from update for the ACL", async () => {
    expect(await h.exists("role/demo")).toBe(false);
    await h.write("role/demo", DEMO);
    expect(await h.exists("role/demo")).toBe(true);
  });
});

describe("role: validation", () => {
  it.each([
    [{ bound_service_account_namespaces: "default" }, '"bound_service_account_names" can not be empty'],
    [
      { bound_service_account_names: "myapp" },
      '"bound_service_account_namespaces" can not be empty if "bound_service_account_namespace_selector" is not set',
    ],
    [{ ...DEMO, bound_service_account_names: "*,myapp" }, 'can not mix "*" with values in "bound_service_account_names"'],
    [{ ...DEMO, bound_service_account_namespaces: ["default", "*"] }, 'can not mix "*" with values in "bound_service_account_namespaces"'],
    [{ ...DEMO, bound_pod_names: ["*", "a"] }, 'can not mix "*" with values in "bound_pod_names"'],
    [{ ...DEMO, bound_service_account_namespace_selector: "{" }, 'invalid "bound_service_account_namespace_selector": not valid JSON or YAML'],
    [{ ...DEMO, bound_service_account_namespace_selector: "{}" }, 'invalid "bound_service_account_namespace_selector": must have matchLabels or matchExpressions'],
    [{ ...DEMO, bound_service_account_namespace_selector: 7 }, 'field "bound_service_account_namespace_selector" must be a JSON or YAML string or an object'],
    [{ ...DEMO, token_ttl: "2h", token_max_ttl: "1h" }, '"token_ttl" cannot be greater than "token_max_ttl"'],
    [{ ...DEMO, alias_name_source: "pod" }, 'field "alias_name_source" must be "serviceaccount_uid" or "serviceaccount_name"'],
    [{ ...DEMO, token_type: "root" }, 'field "token_type" must be "service", "batch" or "default"'],
    [{ ...DEMO, token_type: "batch", token_period: "1h" }, '"token_type" batch cannot be periodic ("token_period")'],
    [{ ...DEMO, token_type: "batch", token_num_uses: 3 }, '"token_type" batch cannot have a limited number of uses ("token_num_uses")'],
    [{ ...DEMO, token_num_uses: -1 }, 'field "token_num_uses" must not be negative'],
    [{ ...DEMO, token_bound_cidrs: "10.0.0.0/33" }, 'field "token_bound_cidrs": invalid CIDR "10.0.0.0/33"'],
    [{ ...DEMO, token_ttl: "soon" }, 'field "token_ttl" must be a duration such as "30s", "5m", "1h" or a number of seconds'],
    [{ ...DEMO, audience: 5 }, 'field "audience" must be a string or a list of strings'],
  ])("refuses %j", async (input, message) => {
    await expect(h.write("role/demo", input)).rejects.toMatchObject(bad(message));
  });

  it("refuses a bad role name", async () => {
    await expect(h.write("role/a b", DEMO)).rejects.toMatchObject(bad('invalid role name "a b"'));
  });
});

describe("role: no root tokens", () => {
  const rootRefused = (field: string) =>
    bad(`field "${field}" must not contain "root": auth methods cannot create root tokens`);

  it.each([
    ["token_policies", ["root"]],
    ["token_policies", ["app", "root"]],
    ["token_policies", "root"],
    ["token_policies", "app,root"],
    ["token_policies", " Root "],
    ["token_policies", ["app", "ROOT\t"]],
    ["policies", ["root"]],
    ["policies", "app, rOOt"],
  ])("refuses %s %j at write", async (field, value) => {
    await expect(h.write("role/demo", { ...DEMO, [field]: value })).rejects.toMatchObject(rootRefused(field));
    await expect(h.call("read", "role/demo")).rejects.toMatchObject({ status: 404 });
  });

  it("refuses root on an update of an existing role, leaving it as it was", async () => {
    await h.write("role/demo", { ...DEMO, token_policies: "app" });
    await expect(h.write("role/demo", { token_policies: ["app", "root"] })).rejects.toMatchObject(
      rootRefused("token_policies"),
    );
    expect((await h.call("read", "role/demo"))?.data?.token_policies).toEqual(["app"]);
  });

  it("refuses root on the legacy field even when token_policies is absent from an update", async () => {
    await h.write("role/demo", { ...DEMO, policies: "app" });
    await expect(h.write("role/demo", { policies: "root" })).rejects.toMatchObject(rootRefused("policies"));
  });

  it("refuses any write to a role stored with root before the check existed", async () => {
    const stored = { ...EMPTY_ROLE, boundServiceAccountNames: ["myapp"], boundServiceAccountNamespaces: ["default"] };
    await putRole(h.storage, "old", { ...stored, tokenPolicies: ["root"] });
    await expect(h.write("role/old", { token_ttl: 60 })).rejects.toMatchObject(rootRefused("token_policies"));
    await h.write("role/old", { token_policies: "app" });
    expect((await getRole(h.storage, "old"))?.tokenPolicies).toEqual(["app"]);
  });

  it("accepts policy names that merely contain root", async () => {
    await h.write("role/demo", { ...DEMO, token_policies: ["root-ca-reader", "uproot"] });
    expect((await h.call("read", "role/demo"))?.data?.token_policies).toEqual(["root-ca-reader", "uproot"]);
  });
});
