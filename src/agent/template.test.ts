import { describe, expect, it } from "vitest";
import { TemplateError, renderTemplate } from "./template.js";

describe("renderTemplate", () => {
  const data = { password: "s3cret", db: { host: "pg", port: 5432 }, list: [1, 2] };

  it("renders fields, nested fields, numbers and JSON of objects", () => {
    expect(renderTemplate("pw={{ .data.password }}", data)).toBe("pw=s3cret");
    expect(renderTemplate("{{.data.db.host}}:{{ .data.db.port }}", data)).toBe("pg:5432");
    expect(renderTemplate("{{ .data.list }}", data)).toBe("[1,2]");
  });

  it("trims whitespace around {{- and -}} and prints quoted strings", () => {
    expect(renderTemplate("a  \n {{- .data.password -}} \n  b", data)).toBe("as3cretb");
    expect(renderTemplate('x{{- " " -}}\ny', data)).toBe("x y");
  });

  it("refuses an unknown field, an unsupported action and unbalanced braces", () => {
    expect(() => renderTemplate("{{ .data.nope }}", data)).toThrow(new TemplateError("template field .data.nope does not exist in the secret's data"));
    expect(() => renderTemplate("{{ .data.password.x }}", data)).toThrow(/\.data\.password\.x does not exist/);
    expect(() => renderTemplate("{{ range .data }}", data)).toThrow(/unsupported template action "\{\{ range \.data \}\}"/);
    expect(() => renderTemplate("{{ .data.password ", data)).toThrow(/unbalanced braces/);
  });
});
