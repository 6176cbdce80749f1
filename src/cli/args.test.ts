import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { Command } from "commander";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  collectList,
  collectPairs,
  longOptionNames,
  normaliseArgv,
  parseCount,
  parseCountList,
  parseKeyValues,
  toQuery,
  trimSlashes,
} from "./args.js";
import { UsageError } from "./errors.js";
import { createInputSource } from "./input.js";
import { captureStream, temporaryHome } from "./test-support.js";

const names = new Map<string, boolean>([
  ["field", false],
  ["format", false],
  ["path", false],
  ["method", false],
  ["orphan", true],
  ["help", true],
  ["key-shares", false],
]);

describe("normaliseArgv", () => {
  it("turns single-dash long options into double-dash ones", () => {
    expect(normaliseArgv(["read", "-field=value", "-format=json", "secret/x"], names)).toEqual([
      "read",
      "--field=value",
      "--format=json",
      "secret/x",
    ]);
  });

  it("handles a separate value and dashed words in the option name", () => {
    expect(normaliseArgv(["operator", "init", "-key-shares", "1", "-path", "kubernetes"], names)).toEqual([
      "operator",
      "init",
      "--key-shares",
      "1",
      "--path",
      "kubernetes",
    ]);
  });

  it("leaves double-dash options, unknown names, short options and operands alone", () => {
    const argv = ["--field", "x", "-unknown=1", "-h", "-", "k=v", "-1"];
    expect(normaliseArgv(argv, names)).toEqual(["--field", "x", "-unknown=1", "-h", "-", "k=v", "-1"]);
  });

  it("maps flag=true to the flag and drops flag=false", () => {
    expect(normaliseArgv(["token", "create", "-orphan=true"], names)).toEqual(["token", "create", "--orphan"]);
    expect(normaliseArgv(["token", "create", "-orphan=false"], names)).toEqual(["token", "create"]);
    expect(normaliseArgv(["-orphan"], names)).toEqual(["--orphan"]);
  });

  it("passes a flag with a bad boolean through for commander to reject", () => {
    expect(normaliseArgv(["-orphan=maybe"], names)).toEqual(["--orphan=maybe"]);
  });

  it("does not rewrite the value of a value-taking option", () => {
    expect(normaliseArgv(["-field", "-path"], names)).toEqual(["--field", "-path"]);
  });

  it("stops at --", () => {
    expect(normaliseArgv(["-format=json", "--", "-field=x"], names)).toEqual(["--format=json", "--", "-field=x"]);
  });

  it("recognises -help", () => {
    expect(normaliseArgv(["kv", "-help"], names)).toEqual(["kv", "--help"]);
  });
});

describe("longOptionNames", () => {
  it("collects long options of all commands and whether they are flags", () => {
    const program = new Command().option("--address <url>");
    const sub = program.command("token").command("create").option("--orphan").option("--policy <p>");
    sub.command("x").option("--orphan <value>");
    const found = longOptionNames(program);
    expect(found.get("address")).toBe(false);
    expect(found.get("policy")).toBe(false);
    // defined once as a flag and once with a value: treated as value-taking
    expect(found.get("orphan")).toBe(false);
    expect(found.get("help")).toBe(true);
  });

  it("treats negatable options as flags", () => {
    const program = new Command();
    program.command("login").option("--no-store");
    expect(longOptionNames(program).get("no-store")).toBe(true);
  });
});

describe("parseKeyValues", () => {
  let home: Awaited<ReturnType<typeof temporaryHome>>;
  beforeEach(async () => {
    home = await temporaryHome();
  });
  afterEach(async () => {
    await home.remove();
  });

  const input = (stdin = "") => createInputSource(Readable.from([stdin]), captureStream());

  it("parses key=value pairs, keeping = in values", () => {
    return expect(parseKeyValues(["a=1", "b=x=y", "empty="], input())).resolves.toEqual({ a: "1", b: "x=y", empty: "" });
  });

  it("reads @file values and - values from stdin, unchanged", async () => {
    const file = join(home.path, "cert.pem");
    await writeFile(file, "-----BEGIN-----\nabc\n");
    await expect(parseKeyValues([`cert=@${file}`, "password=-"], input("s3cret\n"))).resolves.toEqual({
      cert: "-----BEGIN-----\nabc\n",
      password: "s3cret\n",
    });
  });

  it("merges a JSON object from stdin for a lone -", async () => {
    await expect(parseKeyValues(["-", "extra=1"], input('{"a": 1, "b": {"c": true}}'))).resolves.toEqual({
      a: 1,
      b: { c: true },
      extra: "1",
    });
  });

  it("merges a JSON object from a lone @file", async () => {
    const file = join(home.path, "data.json");
    await writeFile(file, '{"role": "demo"}');
    await expect(parseKeyValues([`@${file}`], input())).resolves.toEqual({ role: "demo" });
  });

  it("collects repeated keys into a list", async () => {
    await expect(parseKeyValues(["p=a", "p=b", "p=c"], input())).resolves.toEqual({ p: ["a", "b", "c"] });
  });

  it("lets several values share one read of stdin", async () => {
    await expect(parseKeyValues(["a=-", "b=-"], input("same"))).resolves.toEqual({ a: "same", b: "same" });
  });

  it("rejects arguments that are not key=value", async () => {
    await expect(parseKeyValues(["novalue"], input())).rejects.toThrow(UsageError);
    await expect(parseKeyValues(["=value"], input())).rejects.toThrow('invalid key/value pair "=value"');
  });

  it("rejects stdin that is not a JSON object", async () => {
    await expect(parseKeyValues(["-"], input("[1,2]"))).rejects.toThrow("Failed to parse JSON from stdin: expected an object");
    await expect(parseKeyValues(["-"], input("{nope"))).rejects.toThrow(/Failed to parse JSON from stdin/);
  });

  it("reports a missing file as a usage error", async () => {
    await expect(parseKeyValues([`x=@${join(home.path, "missing")}`], input())).rejects.toThrow(/Error reading file .*missing/);
  });
});

describe("value parsers", () => {
  it("collectList splits commas and accumulates", () => {
    expect(collectList("b,c", collectList("a", undefined))).toEqual(["a", "b", "c"]);
  });

  it("collectPairs builds a map and rejects non-pairs", () => {
    expect(collectPairs("team=b", collectPairs("env=a=1", undefined))).toEqual({ env: "a=1", team: "b" });
    expect(() => collectPairs("oops", undefined)).toThrow("expected key=value");
  });

  it("parseCount accepts whole numbers only", () => {
    expect(parseCount("5")).toBe(5);
    expect(() => parseCount("-1")).toThrow("expected a whole number");
    expect(() => parseCount("1.5")).toThrow("expected a whole number");
  });

  it("parseCountList reads comma-separated versions", () => {
    expect(parseCountList("1, 2", parseCountList("3", undefined))).toEqual([3, 1, 2]);
  });

  it("toQuery stringifies values and keeps repeats", () => {
    expect(toQuery({ a: "1", b: ["x", "y"], c: 2 })).toEqual({ a: ["1"], b: ["x", "y"], c: ["2"] });
  });

  it("trimSlashes", () => {
    expect(trimSlashes("/secret/foo/")).toBe("secret/foo");
  });
});
