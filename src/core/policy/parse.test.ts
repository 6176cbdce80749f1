import { describe, expect, it } from "vitest";
import { LatchkeyError } from "../errors.js";
import { parsePolicy } from "./parse.js";

function parseError(text: string, name = "p"): LatchkeyError {
  try {
    parsePolicy(name, text);
  } catch (err) {
    if (err instanceof LatchkeyError) return err;
    throw err;
  }
  throw new Error("expected parsePolicy to fail");
}

describe("parsePolicy: HCL as Vault's documentation writes it", () => {
  it("parses several path blocks with comments of every kind", () => {
    const policy = parsePolicy(
      "apps",
      `# broad read access to the apps' secrets
path "secret/data/*" {
  capabilities = ["read", "list"]
}

// except this one, which nobody reads
path "secret/data/root-ca" {
  capabilities = ["deny"]
}

/* writers may
   touch their own subtree */
path "secret/data/apps/+/config" {
  capabilities = ["create", "read", "update", "patch", "delete", "list"]
}
`,
    );
    expect(policy.name).toBe("apps");
    expect(policy.templated).toBe(false);
    expect(policy.rules).toEqual([
      { path: "secret/data/*", capabilities: ["read", "list"], line: 2 },
      { path: "secret/data/root-ca", capabilities: ["deny"], line: 7 },
      {
        path: "secret/data/apps/+/config",
        capabilities: ["create", "read", "update", "patch", "delete", "list"],
        line: 13,
      },
    ]);
  });

  it("parses allowed, denied and required parameters and wrapping TTLs", () => {
    const policy = parsePolicy(
      "params",
      `path "secret/restricted" {
  capabilities = ["create", "update"]
  allowed_parameters = {
    "Foo" = []
    "bar" = ["zip", "zap", 3, true]
  }
  denied_parameters = {
    "password" = []
  }
  required_parameters = ["bar", "Baz"]
  min_wrapping_ttl = "1s"
  max_wrapping_ttl = "1h30m"
}

path "secret/no-params" {
  capabilities = ["update"]
  denied_parameters = {
    "*" = []
  }
  max_wrapping_ttl = 90
}`,
    );
    expect(policy.rules[0]).toEqual({
      path: "secret/restricted",
      capabilities: ["create", "update"],
      allowedParameters: { foo: [], bar: ["zip", "zap", 3, true] },
      deniedParameters: { password: [] },
      requiredParameters: ["bar", "baz"],
      minWrappingTtl: 1,
      maxWrappingTtl: 5400,
      line: 1,
    });
    expect(policy.rules[1]).toMatchObject({ deniedParameters: { "*": [] }, maxWrappingTtl: 90 });
  });

  it("accepts HCL block syntax for parameter maps and commas between entries", () => {
    const policy = parsePolicy(
      "p",
      `path "a" { capabilities = ["update"], allowed_parameters { "x" = ["1",], "y" = [] }, }`,
    );
    expect(policy.rules[0].allowedParameters).toEqual({ x: ["1"], y: [] });
  });

  it("maps the legacy policy field to capabilities", () => {
    const policy = parsePolicy(
      "legacy",
      `path "a/*" { policy = "read" }
path "b/*" { policy = "write" }
path "c/*" { policy = "sudo" }
path "d/*" { policy = "deny" }
path "e/*" {
  policy = "read"
  capabilities = ["update"]
}`,
    );
    expect(policy.rules.map((r) => r.capabilities)).toEqual([
      ["read", "list"],
      ["create", "read", "update", "delete", "list"],
      ["create", "read", "update", "delete", "list", "sudo"],
      ["deny"],
      ["read", "update", "list"],
    ]);
  });

  it("keeps only deny when deny is listed with other capabilities", () => {
    expect(parsePolicy("p", `path "a" { capabilities = ["read", "deny", "list"] }`).rules[0].capabilities).toEqual([
      "deny",
    ]);
  });

  it("sorts capabilities into canonical order and drops duplicates", () => {
    expect(
      parsePolicy("p", `path "a" { capabilities = ["list", "read", "list", "sudo", "create"] }`).rules[0].capabilities,
    ).toEqual(["create", "read", "list", "sudo"]);
  });

  it("strips a leading slash, as Vault does", () => {
    expect(parsePolicy("p", `path "/secret/data/x" { capabilities = ["read"] }`).rules[0].path).toBe("secret/data/x");
  });

  it("accepts comment keys, a top-level name, empty capability lists and string escapes", () => {
    const policy = parsePolicy(
      "p",
      `name = "ignored"
path "secret/data/quote\\"d" {
  comment = "a note for humans"
  capabilities = []
}`,
    );
    expect(policy.rules).toEqual([{ path: 'secret/data/quote"d', capabilities: [], line: 2 }]);
  });

  it("marks token-metadata templates", () => {
    const policy = parsePolicy(
      "per-namespace",
      `path "secret/data/{{token.metadata.service_account_namespace}}/*" { capabilities = ["read"] }
path "kubernetes/creds/{{ token.metadata.service_account_namespace }}-{{token.metadata.service_account_name}}" {
  capabilities = ["update"]
}`,
    );
    expect(policy.templated).toBe(true);
    expect(policy.rules[1].path).toBe(
      "kubernetes/creds/{{ token.metadata.service_account_namespace }}-{{token.metadata.service_account_name}}",
    );
  });

  it("reads CRLF line endings and a byte-order mark", () => {
    const policy = parsePolicy("p", `\uFEFF# windows\r\npath "a" {\r\n  capabilities = ["read"]\r\n}\r\n`);
    expect(policy.rules).toEqual([{ path: "a", capabilities: ["read"], line: 2 }]);
  });

  it("keeps the text it was given", () => {
    const text = `path "a" { capabilities = ["read"] }\n`;
    expect(parsePolicy("p", text).text).toBe(text);
  });
});

describe("parsePolicy: JSON form", () => {
  it("parses the object form", () => {
    const policy = parsePolicy("j", `{"path": {"secret/*": {"capabilities": ["read"]}}}`);
    expect(policy.rules).toEqual([{ path: "secret/*", capabilities: ["read"], line: 1 }]);
  });

  it("parses several paths with parameters, reporting their lines", () => {
    const policy = parsePolicy(
      "j",
      JSON.stringify(
        {
          path: {
            "secret/data/*": { capabilities: ["read", "list"] },
            "secret/data/restricted": {
              capabilities: ["create"],
              allowed_parameters: { foo: [], bar: ["zip", "zap"] },
              required_parameters: ["bar"],
              max_wrapping_ttl: "5m",
            },
          },
        },
        null,
        2,
      ),
    );
    expect(policy.rules).toEqual([
      { path: "secret/data/*", capabilities: ["read", "list"], line: 3 },
      {
        path: "secret/data/restricted",
        capabilities: ["create"],
        allowedParameters: { foo: [], bar: ["zip", "zap"] },
        requiredParameters: ["bar"],
        maxWrappingTtl: 300,
        line: 9,
      },
    ]);
  });

  it("parses the list-of-objects form and the legacy policy field", () => {
    const policy = parsePolicy("j", `{"path": [{"a/*": {"policy": "read"}}, {"b": {"capabilities": ["deny"]}}]}`);
    expect(policy.rules.map((r) => [r.path, r.capabilities])).toEqual([
      ["a/*", ["read", "list"]],
      ["b", ["deny"]],
    ]);
  });

  it("decodes \\u escapes", () => {
    expect(parsePolicy("j", `{"path": {"caf\\u00e9": {"capabilities": ["read"]}}}`).rules[0].path).toBe("café");
  });

  it("reports JSON mistakes with their line", () => {
    expect(parseError(`{\n  "path": {\n    "a": {"capabilities": ["read"] "x": 1}\n  }\n}`).message).toBe(
      'policy "p" line 3: path "a": unknown key "x"',
    );
    expect(parseError(`{\n  "path": {\n    "a": {"capabilities": ["read", null]}\n  }\n}`).message).toBe(
      'policy "p" line 3: unexpected "null"; strings must be quoted',
    );
    expect(parseError(`{"path": {"a": {"capabilities": ["read"]}}`).message).toBe(
      'policy "p" line 1: expected "}" to close the block opened on line 1',
    );
  });
});

describe("parsePolicy: errors name the policy, the line and the key", () => {
  const cases: Array<[string, string, string]> = [
    ["empty text", "", 'policy "p": policy text is empty'],
    ["whitespace only", "  \n\t\n", 'policy "p": policy text is empty'],
    ["comments only", "# nothing here\n// nor here\n", 'policy "p": policy has no path blocks'],
    [
      "unknown capability",
      `path "secret/*" {\n  capabilities = ["read",\n    "raed"]\n}`,
      'policy "p" line 3: path "secret/*": unknown capability "raed"; expected one of create, read, update, patch, delete, list, sudo, deny',
    ],
    [
      "unknown key in a path block",
      `path "a" { capabilities = ["read"] }\n\npath "b" {\n  capabilites = ["read"]\n}`,
      'policy "p" line 4: path "b": unknown key "capabilites"',
    ],
    [
      "enterprise-only keys",
      `path "a" {\n  capabilities = ["read"]\n  mfa_methods = ["totp"]\n}`,
      'policy "p" line 3: path "a": unknown key "mfa_methods"',
    ],
    ["unknown top-level key", `\n\npaths "a" { capabilities = ["read"] }`, 'policy "p" line 3: unknown key "paths"; expected "path"'],
    [
      "a key set twice",
      `path "a" {\n  capabilities = ["read"]\n  capabilities = ["list"]\n}`,
      'policy "p" line 3: path "a": "capabilities" is set twice',
    ],
    [
      "capabilities not a list",
      `path "a" {\n  capabilities = "read"\n}`,
      'policy "p" line 2: path "a": "capabilities" must be a list of strings',
    ],
    [
      "legacy policy unknown",
      `path "a" {\n  policy = "admin"\n}`,
      'policy "p" line 2: path "a": "policy" must be one of "deny", "read", "write", "sudo"',
    ],
    ["unterminated string", `path "a" {\n  capabilities = ["read]\n}`, 'policy "p" line 2: unterminated string'],
    [
      "unclosed block",
      `path "a" {\n  capabilities = ["read"]\n`,
      'policy "p" line 3: expected "}" to close the block opened on line 1',
    ],
    [
      "missing comma in a list",
      `path "a" {\n  capabilities = ["read" "list"]\n}`,
      'policy "p" line 2: expected "," or "]" in list, found string "list"',
    ],
    ["unterminated block comment", `/* path "a" {\n}`, 'policy "p" line 1: unterminated /* comment'],
    [
      "line numbers survive block comments",
      `/* one\ntwo\nthree */ path "a" { capabilities = [read] }`,
      'policy "p" line 3: unexpected "read"; strings must be quoted',
    ],
    ["stray character", `path "a" { capabilities = ["read"] };`, 'policy "p" line 1: unexpected character ";"'],
    [
      "glob in the middle",
      `path "secret/*/config" { capabilities = ["read"] }`,
      'policy "p" line 1: path "secret/*/config": "*" is only allowed as the last character; use "+" to match one segment',
    ],
    [
      "plus-star",
      `path "secret/+*" { capabilities = ["read"] }`,
      'policy "p" line 1: path "secret/+*": "+*" is not allowed; use "+/*" or "*"',
    ],
    [
      "plus inside a segment",
      `path "secret/team+/config" { capabilities = ["read"] }`,
      'policy "p" line 1: path "secret/team+/config": "+" must be a whole path segment, as in "secret/+/config"',
    ],
    ["empty path", `path "" { capabilities = ["read"] }`, 'policy "p" line 1: path "": path is empty'],
    [
      "identity templates are not resolved by latchkey",
      `path "secret/{{identity.entity.metadata.team}}/*" { capabilities = ["read"] }`,
      'policy "p" line 1: path "secret/{{identity.entity.metadata.team}}/*": unknown template "{{identity.entity.metadata.team}}"; only {{token.metadata.<key>}} is supported',
    ],
    [
      "unclosed template",
      `path "secret/{{token.metadata.team/*" { capabilities = ["read"] }`,
      'policy "p" line 1: path "secret/{{token.metadata.team/*": "{{" without a matching "}}"',
    ],
    [
      "template followed by a plus in the same segment",
      `path "secret/{{token.metadata.team}}+" { capabilities = ["read"] }`,
      'policy "p" line 1: path "secret/{{token.metadata.team}}+": "+" must be a whole path segment, as in "secret/+/config"',
    ],
    [
      "bad duration",
      `path "a" {\n  capabilities = ["read"]\n  min_wrapping_ttl = "soon"\n}`,
      'policy "p" line 3: path "a": field "min_wrapping_ttl" must be a duration such as "30s", "5m", "1h" or a number of seconds',
    ],
    [
      "max below min",
      `path "a" {\n  capabilities = ["read"]\n  min_wrapping_ttl = "1h"\n  max_wrapping_ttl = "1m"\n}`,
      'policy "p" line 1: path "a": max_wrapping_ttl is less than min_wrapping_ttl',
    ],
    [
      "parameter values must be a list",
      `path "a" {\n  capabilities = ["update"]\n  allowed_parameters = {\n    "x" = "y"\n  }\n}`,
      'policy "p" line 4: path "a": allowed_parameters "x" must be a list of values',
    ],
    [
      "nested parameter values",
      `path "a" {\n  capabilities = ["update"]\n  denied_parameters = {\n    "x" = [["y"]]\n  }\n}`,
      'policy "p" line 4: path "a": denied_parameters "x" values must be strings, numbers or booleans',
    ],
    ["two labels", `path "a" "b" { capabilities = ["read"] }`, 'policy "p" line 1: a path block takes exactly one path'],
    ["block is not an object", `path "a" = ["read"]`, 'policy "p" line 1: path "a": expected a { ... } block'],
    ["missing value", `path "a" { capabilities = }`, 'policy "p" line 1: expected a value, found "}"'],
  ];

  it.each(cases)("%s", (_label, text, message) => {
    const err = parseError(text);
    expect(err.status).toBe(400);
    expect(err.message).toBe(message);
  });
});

describe("parsePolicy: documents nested too deep for its readers", () => {
  it.each([
    ["JSON", `{"path": {"a": ${"[".repeat(20_000)}${"]".repeat(20_000)}}}`],
    ["HCL", `path "a" { x = ${"{ y = ".repeat(20_000)}1${" }".repeat(20_000)} }`],
  ])("refuses a %s policy 20,000 deep with a 400 naming the limit", (_kind, text) => {
    expect(() => parsePolicy("deep", text)).toThrow('policy "deep": nesting exceeds the maximum depth of 300');
  });

  it("does not count brackets inside strings", () => {
    const policy = parsePolicy("brackets", `path "secret/${"[{".repeat(400)}" { capabilities = ["read"] }`);
    expect(policy.rules).toHaveLength(1);
  });
});
