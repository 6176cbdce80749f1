import { describe, expect, it } from "vitest";
import type { Operation } from "../types.js";
import { compileAcl } from "./acl.js";
import { builtinDefaultPolicy, ROOT_POLICY } from "./builtin.js";
import { parsePolicy } from "./parse.js";
import type { Policy } from "./types.js";

const POLICIES: Record<string, string> = {
  reader: `
path "secret/data/*" { capabilities = ["read", "list"] }
path "secret/metadata/*" { capabilities = ["list"] }`,
  "team-a": `
path "secret/data/team-a/*" { capabilities = ["create", "read", "update", "delete", "list"] }
path "secret/data/team-a/frozen" { capabilities = ["read"] }`,
  "no-prod": `path "secret/data/prod/*" { capabilities = ["deny"] }`,
  "prod-writer": `path "secret/data/prod/*" { capabilities = ["create", "update"] }`,
  "prod-app": `path "secret/data/prod/app" { capabilities = ["read"] }`,
  plus: `
path "secret/data/+/config" { capabilities = ["read"] }
path "secret/data/+/+/config" { capabilities = ["update"] }
path "kubernetes/creds/+" { capabilities = ["update"] }
path "+/health" { capabilities = ["read"] }`,
  priority: `
path "foo/bar*" { capabilities = ["read"] }
path "foo/+/baz" { capabilities = ["update"] }
path "foo/*" { capabilities = ["list"] }
path "foo/bar/+" { capabilities = ["delete"] }
path "foo/+/ba*" { capabilities = ["patch"] }
path "a/+/c/+" { capabilities = ["read"] }
path "a/+/c/d" { capabilities = ["update"] }`,
  sudoer: `
path "sys/mounts/*" { capabilities = ["create", "read", "update", "delete", "list", "sudo"] }
path "sys/policies/acl/*" { capabilities = ["read"] }`,
  lister: `
path "secret/metadata/teams" { capabilities = ["list"] }
path "secret/metadata/apps/" { capabilities = ["list"] }
path "secret/metadata/apps" { capabilities = ["read"] }`,
  "per-namespace": `
path "secret/data/{{token.metadata.service_account_namespace}}/*" {
  capabilities = ["create", "read", "update", "delete", "list"]
}
path "secret/metadata/{{token.metadata.service_account_namespace}}/*" { capabilities = ["list"] }
path "kubernetes/creds/{{token.metadata.service_account_namespace}}-{{token.metadata.service_account_name}}" {
  capabilities = ["update"]
}`,
  "freeze-payments": `path "secret/data/payments/*" { capabilities = ["deny"] }`,
  "payments-audit": `path "secret/data/payments/*" { capabilities = ["sudo"] }`,
};

const policy = (name: string): Policy =>
  name === "root" ? ROOT_POLICY : name === "default" ? builtinDefaultPolicy() : parsePolicy(name, POLICIES[name]);
const aclOf = (...names: string[]) => compileAcl(names.map(policy));

const payments = { service_account_namespace: "payments", service_account_name: "api" };
const billing = { service_account_namespace: "billing", service_account_name: "worker" };

type Row = [policies: string, path: string, op: Operation | "sudo", allowed: boolean, metadata?: Record<string, string>];

const MATRIX: Row[] = [
  // `*` is a prefix match, anywhere below it and on the prefix itself.
  ["reader", "secret/data/app/db", "read", true],
  ["reader", "secret/data/app/nested/deep/db", "read", true],
  ["reader", "secret/data/", "list", true],
  ["reader", "secret/data/app/db", "update", false],
  ["reader", "secret/data/app/db", "create", false],
  ["reader", "secret/data/app/db", "delete", false],
  ["reader", "secret/data", "read", false],
  ["reader", "secret/metadata/app", "list", true],
  ["reader", "secret/metadata/app", "read", false],
  ["reader", "secretive/data/app", "read", false],
  ["reader", "sys/mounts", "read", false],
  // Nothing at all: deny by default.
  ["", "secret/data/app/db", "read", false],
  // Across policies the most specific pattern wins.
  ["reader,team-a", "secret/data/team-a/db", "update", true],
  ["reader,team-a", "secret/data/team-b/db", "update", false],
  ["reader,team-a", "secret/data/team-a/frozen", "read", true],
  ["reader,team-a", "secret/data/team-a/frozen", "update", false], // exact beats glob
  ["reader,team-a", "secret/data/team-a/frozen/child", "update", true], // the exact rule covers only itself
  // Deny wins over every capability of the same pattern, from any policy.
  ["reader,no-prod", "secret/data/prod/db", "read", false],
  ["no-prod,prod-writer", "secret/data/prod/db", "create", false],
  ["prod-writer,no-prod", "secret/data/prod/db", "update", false],
  ["prod-writer", "secret/data/prod/db", "update", true],
  ["reader,no-prod", "secret/data/staging/db", "read", true],
  // ... but a more specific exact rule is a different rule and still wins (Vault semantics).
  ["no-prod,prod-app", "secret/data/prod/app", "read", true],
  ["no-prod,prod-app", "secret/data/prod/app2", "read", false],
  // `+` matches exactly one non-empty segment.
  ["plus", "secret/data/web/config", "read", true],
  ["plus", "secret/data/web/config", "update", false],
  ["plus", "secret/data/web/eu/config", "update", true],
  ["plus", "secret/data/web/eu/config", "read", false],
  ["plus", "secret/data/config", "read", false],
  ["plus", "secret/data//config", "read", false],
  ["plus", "secret/data/web/config/extra", "read", false],
  ["plus", "kubernetes/creds/viewer", "update", true],
  ["plus", "kubernetes/creds/viewer/extra", "update", false],
  ["plus", "kubernetes/creds/", "update", false],
  ["plus", "anything/health", "read", true],
  ["plus", "a/b/health", "read", false],
  // Priority: later first wildcard, then no trailing `*`, then fewer `+`, then longer, then lexical.
  ["priority", "foo/bar/baz", "delete", true], // foo/bar/+ (first wildcard at 8)
  ["priority", "foo/bar/baz", "read", false],
  ["priority", "foo/bar/baz", "update", false],
  ["priority", "foo/barn", "read", true], // foo/bar* (7) beats foo/* (4)
  ["priority", "foo/barn", "list", false],
  ["priority", "foo/qux/baz", "update", true], // foo/+/baz beats foo/+/ba* and foo/*
  ["priority", "foo/qux/baz", "patch", false],
  ["priority", "foo/qux/bazooka", "list", true], // foo/* beats foo/+/ba*: same first wildcard, both globs, fewer `+`
  ["priority", "foo/qux/bazooka", "patch", false],
  ["priority", "foo/qux", "list", true],
  ["priority", "a/b/c/d", "update", true], // a/+/c/d: one `+` beats two
  ["priority", "a/b/c/d", "read", false],
  ["priority", "a/b/c/e", "read", true],
  // sudo is a capability of the winning rule.
  ["sudoer", "sys/mounts/kv", "sudo", true],
  ["sudoer", "sys/mounts/kv", "update", true],
  ["sudoer", "sys/policies/acl/x", "sudo", false],
  ["sudoer", "sys/policies/acl/x", "read", true],
  ["reader", "secret/data/x", "sudo", false],
  // list vs read, and a trailing slash on list requests.
  ["lister", "secret/metadata/teams", "list", true],
  ["lister", "secret/metadata/teams/", "list", true],
  ["lister", "secret/metadata/teams", "read", false],
  ["lister", "secret/metadata/teams/", "read", false],
  ["lister", "secret/metadata/apps/", "list", true],
  ["lister", "secret/metadata/apps", "read", true],
  ["lister", "secret/metadata/apps", "list", false],
  // Templated paths give every namespace its own subtree.
  ["per-namespace", "secret/data/payments/db", "read", true, payments],
  ["per-namespace", "secret/data/payments/nested/db", "update", true, payments],
  ["per-namespace", "secret/data/billing/db", "read", false, payments],
  ["per-namespace", "secret/data/billing/db", "read", true, billing],
  ["per-namespace", "secret/data/payments/db", "read", false, billing],
  ["per-namespace", "secret/metadata/payments/", "list", true, payments],
  ["per-namespace", "secret/metadata/billing/", "list", false, payments],
  ["per-namespace", "kubernetes/creds/payments-api", "update", true, payments],
  ["per-namespace", "kubernetes/creds/payments-worker", "update", false, payments],
  ["per-namespace", "kubernetes/creds/billing-worker", "update", true, billing],
  // ... and refuse when the metadata is missing or could change the pattern's shape.
  ["per-namespace", "secret/data/payments/db", "read", false],
  ["per-namespace", "secret/data/payments/db", "read", false, {}],
  ["per-namespace", "secret/data/payments/db", "read", false, { service_account_name: "payments" }],
  ["per-namespace", "secret/data//db", "read", false, { service_account_namespace: "" }],
  ["per-namespace", "secret/data/a/b/db", "read", false, { service_account_namespace: "a/b" }],
  ["per-namespace", "secret/data/x/db", "read", false, { service_account_namespace: "*" }],
  ["per-namespace", "secret/data/x/db", "read", false, { service_account_namespace: "+" }],
  ["per-namespace", "secret/data/payments/db", "read", false, { service_account_namespace: "pay*" }],
  ["per-namespace", "kubernetes/creds/payments-api", "update", false, { service_account_namespace: "payments" }],
  ["per-namespace", "secret/data/payments/db", "read", false, { constructor: "payments" }],
  // A templated rule merges with a static rule that has the same resolved pattern: deny wins.
  ["per-namespace,freeze-payments", "secret/data/payments/db", "read", false, payments],
  ["per-namespace,freeze-payments", "secret/data/billing/db", "read", true, billing],
  ["per-namespace,payments-audit", "secret/data/payments/db", "sudo", true, payments],
  ["per-namespace,payments-audit", "secret/data/payments/db", "read", true, payments],
  ["payments-audit", "secret/data/payments/db", "read", false, payments],
  // The root policy allows everything, sudo included, whatever else is attached.
  ["root", "sys/anything/at/all", "sudo", true],
  ["root", "secret/data/prod/db", "delete", true],
  ["root,no-prod", "secret/data/prod/db", "read", true],
  // The default policy: what a token may do for itself.
  ["default", "auth/token/lookup-self", "read", true],
  ["default", "auth/token/lookup-self", "update", false],
  ["default", "auth/token/renew-self", "update", true],
  ["default", "auth/token/revoke-self", "update", true],
  ["default", "auth/token/create", "update", false],
  ["default", "sys/capabilities-self", "update", true],
  ["default", "sys/leases/lookup", "update", true],
  ["default", "sys/leases/renew", "update", true],
  ["default", "sys/leases/revoke", "update", false],
  ["default", "sys/renew", "update", true],
  ["default", "sys/tools/hash", "update", true],
  ["default", "cubbyhole/notes", "create", true],
  ["default", "cubbyhole/notes", "delete", true],
  ["default", "cubbyhole/", "list", true],
  ["default", "cubbyhole/notes", "sudo", false],
  ["default", "secret/data/x", "read", false],
  ["default", "sys/policies/acl/default", "read", false],
];

describe("compileAcl: allowed/denied matrix", () => {
  it.each(MATRIX)("[%s] %s %s → %s", (names, path, op, allowed, metadata) => {
    const acl = aclOf(...names.split(",").filter(Boolean));
    expect(acl.check(path, op, metadata && { metadata }).allowed).toBe(allowed);
  });
});

describe("compileAcl: check results", () => {
  it("reports the winning rule's capabilities and sudo", () => {
    expect(aclOf("sudoer").check("sys/mounts/kv", "read")).toEqual({
      allowed: true,
      sudo: true,
      capabilities: ["create", "read", "update", "delete", "list", "sudo"],
    });
    expect(aclOf("reader", "team-a").check("secret/data/team-a/frozen", "read")).toEqual({
      allowed: true,
      sudo: false,
      capabilities: ["read"],
    });
  });

  it("reports deny when nothing matches or the rule denies", () => {
    const denied = { allowed: false, sudo: false, capabilities: ["deny"] };
    expect(aclOf("reader").check("sys/mounts", "read")).toEqual(denied);
    expect(aclOf("reader", "no-prod").check("secret/data/prod/x", "read")).toEqual(denied);
    expect(compileAcl([]).check("anything", "read")).toEqual(denied);
  });

  it("unions capabilities of the same pattern across policies", () => {
    const a = parsePolicy("a", `path "kv/*" { capabilities = ["read"] }`);
    const b = parsePolicy("b", `path "kv/*" { capabilities = ["list", "update"] }`);
    expect(compileAcl([a, b]).check("kv/x", "update").capabilities).toEqual(["read", "update", "list"]);
  });

  it("gives root every capability but deny", () => {
    const acl = aclOf("root", "reader");
    expect(acl.root).toBe(true);
    expect(acl.policies).toEqual(["reader", "root"]);
    expect(acl.check("x", "read")).toEqual({
      allowed: true,
      sudo: true,
      capabilities: ["create", "read", "update", "patch", "delete", "list", "sudo"],
    });
  });

  it("ignores a leading slash on the request path", () => {
    expect(aclOf("reader").check("/secret/data/x", "read").allowed).toBe(true);
  });

  it("needs the patch capability for patch", () => {
    const acl = compileAcl([parsePolicy("p", `path "kv/*" { capabilities = ["update"] }\npath "kv/p" { capabilities = ["patch"] }`)]);
    expect(acl.check("kv/x", "patch").allowed).toBe(false);
    expect(acl.check("kv/p", "patch").allowed).toBe(true);
  });

  it("lets a templated exact path outrank a static glob", () => {
    const acl = compileAcl([
      parsePolicy("glob", `path "secret/data/*" { capabilities = ["deny"] }`),
      parsePolicy("mine", `path "secret/data/{{token.metadata.service_account_namespace}}" { capabilities = ["read"] }`),
    ]);
    expect(acl.check("secret/data/payments", "read", { metadata: payments }).allowed).toBe(true);
    expect(acl.check("secret/data/billing", "read", { metadata: payments }).allowed).toBe(false);
  });

  it("merges two templated rules that resolve to the same pattern", () => {
    const acl = compileAcl([
      parsePolicy("ns", `path "kv/{{token.metadata.ns}}/*" { capabilities = ["read"] }`),
      parsePolicy("team", `path "kv/{{token.metadata.team}}/*" { capabilities = ["update"] }`),
    ]);
    expect(acl.check("kv/x/y", "read", { metadata: { ns: "x", team: "x" } }).capabilities).toEqual(["read", "update"]);
    expect(acl.check("kv/x/y", "update", { metadata: { ns: "x", team: "z" } }).allowed).toBe(false);
  });
});

describe("compileAcl: permissions and parameters", () => {
  const params = compileAcl([
    parsePolicy(
      "params",
      `
path "secret/restricted" {
  capabilities = ["create", "update"]
  allowed_parameters = {
    "foo" = []
    "bar" = ["zip", "zap"]
    "env" = ["prod-*", "*-test"]
    "tags" = ["a", "b"]
  }
}
path "secret/no-password" {
  capabilities = ["update"]
  denied_parameters = { "password" = [] "mode" = ["unsafe"] }
}
path "secret/nothing" {
  capabilities = ["update"]
  denied_parameters = { "*" = [] }
}
path "secret/anything-but" {
  capabilities = ["update"]
  allowed_parameters = { "*" = [] "level" = ["1", 2] }
}
path "secret/required" {
  capabilities = ["update"]
  required_parameters = ["owner"]
}
path "secret/denied" { capabilities = ["deny"] }`,
    ),
  ]);
  const rows: Array<[string, Record<string, unknown>, boolean, string?]> = [
    ["secret/restricted", {}, true],
    ["secret/restricted", { foo: "anything" }, true],
    ["secret/restricted", { FOO: 42 }, true],
    ["secret/restricted", { bar: "zip" }, true],
    ["secret/restricted", { bar: "zop" }, false, 'value of parameter "bar" is not allowed'],
    ["secret/restricted", { env: "prod-eu" }, true],
    ["secret/restricted", { env: "eu-test" }, true],
    ["secret/restricted", { env: "staging" }, false, 'value of parameter "env" is not allowed'],
    ["secret/restricted", { tags: ["a", "b"] }, true],
    ["secret/restricted", { tags: ["a", "c"] }, false, 'value of parameter "tags" is not allowed'],
    ["secret/restricted", { other: 1 }, false, 'parameter "other" is not allowed'],
    ["secret/restricted", { constructor: 1 }, false, 'parameter "constructor" is not allowed'],
    ["secret/no-password", { user: "x" }, true],
    ["secret/no-password", { password: "x" }, false, 'parameter "password" is denied'],
    ["secret/no-password", { mode: "safe" }, true],
    ["secret/no-password", { mode: "unsafe" }, false, 'parameter "mode" is denied'],
    ["secret/nothing", {}, true],
    ["secret/nothing", { a: 1 }, false, "all parameters are denied"],
    ["secret/anything-but", { a: 1, level: "1" }, true],
    ["secret/anything-but", { level: 2 }, true],
    ["secret/anything-but", { level: "3" }, false, 'value of parameter "level" is not allowed'],
    ["secret/required", { owner: "me" }, true],
    ["secret/required", { other: "x" }, false, 'missing required parameter "owner"'],
    ["secret/denied", { a: 1 }, false, "path is denied"],
    ["secret/unknown", { a: 1 }, false, "no policy grants access to this path"],
  ];
  it.each(rows)("%s %j → %s", (path, data, allowed, reason) => {
    expect(params.checkParameters(path, data)).toEqual(reason ? { allowed, reason } : { allowed });
  });

  it("merges parameter constraints and wrapping TTLs of the same pattern", () => {
    const acl = compileAcl([
      parsePolicy(
        "a",
        `path "kv/x" {
  capabilities = ["update"]
  allowed_parameters = { "a" = ["1"] "b" = [] }
  required_parameters = ["a"]
  min_wrapping_ttl = "1m"
  max_wrapping_ttl = "1h"
}`,
      ),
      parsePolicy(
        "b",
        `path "kv/x" {
  capabilities = ["read"]
  allowed_parameters = { "a" = ["2"] "b" = ["only"] "c" = [] }
  required_parameters = ["c"]
  min_wrapping_ttl = "30s"
  max_wrapping_ttl = "2h"
}`,
      ),
    ]);
    expect(acl.permissions("kv/x")).toEqual({
      pattern: "kv/x",
      capabilities: ["read", "update"],
      allowedParameters: { a: ["1", "2"], b: [], c: [] },
      requiredParameters: ["a", "c"],
      minWrappingTtl: 30,
      maxWrappingTtl: 7200,
    });
    expect(acl.checkParameters("kv/x", { a: "2", c: "x", b: "anything" })).toEqual({ allowed: true });
    expect(acl.checkParameters("kv/x", { a: "2" })).toEqual({ allowed: false, reason: 'missing required parameter "c"' });
  });

  it("resolves templates for parameter checks", () => {
    const acl = compileAcl([
      parsePolicy(
        "t",
        `path "kv/{{token.metadata.ns}}/config" {
  capabilities = ["update"]
  allowed_parameters = { "size" = ["small"] }
}`,
      ),
    ]);
    expect(acl.checkParameters("kv/a/config", { size: "small" }, { metadata: { ns: "a" } })).toEqual({ allowed: true });
    expect(acl.checkParameters("kv/a/config", { size: "small" }, { metadata: { ns: "b" } }).allowed).toBe(false);
  });

  it("reports the winning pattern, and none when nothing matches", () => {
    expect(aclOf("priority").permissions("foo/bar/baz")?.pattern).toBe("foo/bar/+");
    expect(aclOf("per-namespace").permissions("secret/data/payments/x", { metadata: payments })?.pattern).toBe(
      "secret/data/payments/*",
    );
    expect(aclOf("reader").permissions("sys/health")).toBeUndefined();
    expect(aclOf("root").permissions("sys/health")?.pattern).toBe("*");
  });
});

describe("compileAcl: parameter values that are lists or comma-separated strings", () => {
  const acl = compileAcl([
    parsePolicy(
      "role-writer",
      `
path "auth/kubernetes/role/*" {
  capabilities = ["create", "update"]
  denied_parameters = { "token_policies" = ["root", "admin"] "token_num_uses" = [0] }
}
path "auth/kubernetes/scoped/*" {
  capabilities = ["create", "update"]
  allowed_parameters = { "token_policies" = ["dev", "team-*", "a,b"] "level" = [2] }
}`,
    ),
  ]);
  const denied = { allowed: false, reason: 'parameter "token_policies" is denied' };
  const notAllowed = { allowed: false, reason: 'value of parameter "token_policies" is not allowed' };
  const rows: Array<[string, unknown, object]> = [
    ["a denied value alone", ["admin"], denied],
    ["a list with one denied element", ["admin", "x"], denied],
    ["a list with the denied element last", ["x", "y", "root"], denied],
    ["a nested list", ["x", ["y", ["root"]]], denied],
    ["a comma-separated string", "root,x", denied],
    ["a comma-separated string with blanks", "x, admin ", denied],
    ["a list element with commas", ["x", "y,root"], denied],
    ["another case and blanks", " Root ", denied],
    ["a list of allowed values", ["x", "y"], { allowed: true }],
    ["a string of allowed values", "x,y", { allowed: true }],
    ["an empty list", [], { allowed: true }],
  ];
  it.each(rows)("denied_parameters: %s (%j)", (_what, value, expected) => {
    expect(acl.checkParameters("auth/kubernetes/role/x", { token_policies: value })).toEqual(expected);
  });

  it("denied_parameters judges every key as given, not one per lower-cased name", () => {
    expect(acl.checkParameters("auth/kubernetes/role/x", { token_policies: ["x"], TOKEN_POLICIES: ["root"] })).toEqual(
      denied,
    );
    expect(acl.checkParameters("auth/kubernetes/role/x", { TOKEN_POLICIES: "root", token_policies: "x" })).toEqual(denied);
  });

  it("denied_parameters matches a number by its string form, as the framework coerces it", () => {
    const numUses = { allowed: false, reason: 'parameter "token_num_uses" is denied' };
    expect(acl.checkParameters("auth/kubernetes/role/x", { token_num_uses: "0" })).toEqual(numUses);
    expect(acl.checkParameters("auth/kubernetes/role/x", { token_num_uses: 0 })).toEqual(numUses);
    expect(acl.checkParameters("auth/kubernetes/role/x", { token_num_uses: "5" })).toEqual({ allowed: true });
  });

  const allowedRows: Array<[string, unknown, object]> = [
    ["a listed value", "dev", { allowed: true }],
    ["a list of listed values", ["dev", "team-a"], { allowed: true }],
    ["a list with one unlisted element", ["dev", "root"], notAllowed],
    ["a nested list with an unlisted element", ["dev", ["team-a", ["root"]]], notAllowed],
    ["a comma-separated string with an unlisted part", "dev,root", notAllowed],
    ["a glob matching the whole string but not every part", "team-a,root", notAllowed],
    ["a list element with an unlisted part", ["dev", "team-a,root"], notAllowed],
    ["a string listed exactly, commas included", "a,b", { allowed: true }],
    ["a string whose whole and parts are all allowed", "team-a, dev", { allowed: true }],
  ];
  it.each(allowedRows)("allowed_parameters: %s (%j)", (_what, value, expected) => {
    expect(acl.checkParameters("auth/kubernetes/scoped/x", { token_policies: value })).toEqual(expected);
  });

  it("allowed_parameters judges every key as given, and compares exactly", () => {
    expect(acl.checkParameters("auth/kubernetes/scoped/x", { token_policies: "dev", TOKEN_POLICIES: "root" })).toEqual(
      notAllowed,
    );
    expect(acl.checkParameters("auth/kubernetes/scoped/x", { level: "2" }).allowed).toBe(false);
    expect(acl.checkParameters("auth/kubernetes/scoped/x", { level: 2 }).allowed).toBe(true);
  });
});
