import { describe, expect, it } from "vitest";
import {
  formatField,
  formatKeyList,
  formatKeyValueTable,
  formatQuotedList,
  formatSecretTable,
  formatStructured,
  formatTable,
  formatValue,
  formatWarnings,
  headerForData,
  humanDuration,
  sectionHeader,
  selectField,
} from "./output.js";

describe("formatValue", () => {
  it("renders values the way table output shows them", () => {
    expect(formatValue("text")).toBe("text");
    expect(formatValue(42)).toBe("42");
    expect(formatValue(false)).toBe("false");
    expect(formatValue(null)).toBe("<nil>");
    expect(formatValue(["a", 1])).toBe("[a 1]");
    expect(formatValue({ b: 2, a: { c: "x" } })).toBe("map[a:map[c:x] b:2]");
  });

  it("quotes policy lists", () => {
    expect(formatQuotedList(["default", "dev"])).toBe('["default" "dev"]');
    expect(formatQuotedList(undefined)).toBe("[]");
  });
});

describe("humanDuration", () => {
  it.each([
    [0, "0s"],
    [45, "45s"],
    [90, "1m30s"],
    [3600, "1h"],
    [5400, "1h30m"],
    [3605, "1h0m5s"],
    [2764800, "768h"],
    [2764799, "767h59m59s"],
    [-30, "-30s"],
  ])("%d seconds is %s", (seconds, text) => {
    expect(humanDuration(seconds)).toBe(text);
  });
});

describe("formatTable", () => {
  it("aligns columns with four spaces, underlines the header and fills empty cells", () => {
    expect(formatTable(["Path", "Type", "Description"], [["secret/", "kv", ""], ["token/", "token", "tokens"]])).toBe(
      [
        "Path       Type     Description",
        "----       ----     -----------",
        "secret/    kv       n/a",
        "token/     token    tokens",
        "",
      ].join("\n"),
    );
  });

  it("key/value table", () => {
    expect(formatKeyValueTable([["foo", "bar"], ["refresh_interval", "768h"]])).toBe(
      ["Key                 Value", "---                 -----", "foo                 bar", "refresh_interval    768h", ""].join("\n"),
    );
  });

  it("key list", () => {
    expect(formatKeyList(["a", "b/"])).toBe("Keys\n----\na\nb/\n");
  });
});

describe("formatSecretTable", () => {
  it("shows refresh_interval and sorted data", () => {
    const table = formatSecretTable({ lease_id: "", lease_duration: 2764800, data: { zeta: 1, alpha: "x" } });
    expect(table.split("\n")).toEqual([
      "Key                 Value",
      "---                 -----",
      "refresh_interval    768h",
      "alpha               x",
      "zeta                1",
      "",
    ]);
  });

  it("shows lease fields when there is a lease", () => {
    const table = formatSecretTable({ lease_id: "kubernetes/creds/x/abc", lease_duration: 600, renewable: true, data: {} });
    expect(table).toContain("lease_id           kubernetes/creds/x/abc");
    expect(table).toContain("lease_duration     10m");
    expect(table).toContain("lease_renewable    true");
  });

  it("shows auth fields, metadata and turns TTL-like data keys into durations", () => {
    const body = {
      auth: {
        client_token: "lks.secret",
        accessor: "acc1",
        policies: ["default", "dev"],
        token_policies: ["default", "dev"],
        lease_duration: 3600,
        renewable: true,
        metadata: { team: "a" },
      },
      data: { creation_ttl: 7200, ttl: "59", period: 0, num_uses: 3 },
    };
    const lines = formatSecretTable(body).split("\n");
    expect(lines).toContain("token                lks.secret");
    expect(lines).toContain("token_accessor       acc1");
    expect(lines).toContain("token_duration       1h");
    expect(lines).toContain('token_policies       ["default" "dev"]');
    expect(lines).toContain("identity_policies    []");
    expect(lines).toContain("token_meta_team      a");
    expect(lines).toContain("creation_ttl         2h");
    expect(lines).toContain("ttl                  59s");
    expect(lines).toContain("period               0s");
    expect(lines).toContain("num_uses             3");
    expect(formatSecretTable(body, { omitToken: true })).not.toContain("lks.secret");
  });

  it("shows an infinite duration for a token without expiry", () => {
    expect(formatSecretTable({ auth: { client_token: "t", lease_duration: 0 } })).toContain("token_duration       ∞");
  });

  it("is empty when there is nothing to show", () => {
    expect(formatSecretTable({ data: null })).toBe("");
  });
});

describe("selectField and formatField", () => {
  const body = { data: { password: "pw", nested: { a: 1 }, nothing: null }, auth: { client_token: "tok", accessor: "acc" } };

  it("looks in data first, then in the auth fields", () => {
    expect(selectField(body, "password")).toBe("pw");
    expect(selectField(body, "token")).toBe("tok");
    expect(selectField(body, "token_accessor")).toBe("acc");
    expect(selectField(body, "nothing")).toBeUndefined();
    expect(selectField(body, "missing")).toBeUndefined();
  });

  it("prints strings raw and other values per format", () => {
    expect(formatField("pw", "table")).toBe("pw");
    expect(formatField({ a: 1 }, "table")).toBe("map[a:1]");
    expect(formatField({ a: 1 }, "json")).toBe('{\n  "a": 1\n}');
    expect(formatField({ a: 1 }, "yaml")).toBe("a: 1");
  });
});

describe("structured output", () => {
  it("json is indented by two spaces with a newline", () => {
    expect(formatStructured({ a: [1] }, "json")).toBe('{\n  "a": [\n    1\n  ]\n}\n');
  });

  it("yaml", () => {
    expect(formatStructured({ data: { foo: "bar" }, warnings: null }, "yaml")).toBe("data:\n  foo: bar\nwarnings: null\n");
  });
});

describe("section headers", () => {
  it("size to the content below them", () => {
    expect(sectionHeader("Secret Path", "secret/data/creds".length)).toBe("== Secret Path ==");
    expect(
      headerForData("Metadata", { created_time: 1, custom_metadata: 1, deletion_time: 1, destroyed: 1, version: 1 }),
    ).toBe("======= Metadata =======");
    expect(headerForData("Data", { passcode: 1 })).toBe("====== Data ======");
    expect(sectionHeader("Title", 0)).toBe("== Title ==");
  });
});

describe("formatWarnings", () => {
  it("lists warnings, or nothing", () => {
    expect(formatWarnings({ warnings: ["careful"] })).toBe(
      "WARNING! The following warnings were returned from latchkey:\n\n  * careful\n\n",
    );
    expect(formatWarnings({ warnings: null })).toBe("");
    expect(formatWarnings(undefined)).toBe("");
  });
});
