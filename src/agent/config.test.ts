import { describe, expect, it } from "vitest";
import { UsageError } from "../cli/errors.js";
import { buildConfig, parseDuration, parseOnChange, type AgentFlags } from "./config.js";

const flags = (over: Partial<AgentFlags> = {}): AgentFlags => ({
  mode: "init", addr: "http://127.0.0.1:8200", authPath: "/auth/kubernetes/", role: "app", tokenFile: "/t", secretsDir: "/latchkey/secrets",
  secret: ["app=secret/data/app"], template: [], file: [], perms: [], refreshInterval: "5m", ...over,
});

describe("agent flags", () => {
  it("builds the secrets with their template, file and mode (default 0640)", () => {
    const config = buildConfig(flags({ secret: ["app=secret/data/app", "db=/v1/database/creds/ro"], template: ["db={{ .data.username }}"], file: ["db=/etc/db"], perms: ["db=0600"] }));
    expect(config.authPath).toBe("auth/kubernetes");
    expect(config.refreshMs).toBe(300_000);
    expect(config.secrets).toEqual([
      { name: "app", path: "secret/data/app", template: undefined, file: undefined, mode: 0o640 },
      { name: "db", path: "database/creds/ro", template: "{{ .data.username }}", file: "/etc/db", mode: 0o600 },
    ]);
  });

  it("refuses what would fail later, naming the flag", () => {
    expect(() => buildConfig(flags({ mode: "daemon" }))).toThrow(new UsageError("--mode daemon must be init or sidecar"));
    expect(() => buildConfig(flags({ addr: undefined }))).toThrow("--addr (or LATCHKEY_ADDR) is required");
    expect(() => buildConfig(flags({ secret: [] }))).toThrow("give at least one --secret NAME=API_PATH");
    expect(() => buildConfig(flags({ secret: ["a=x", "a=y"] }))).toThrow("--secret a is given twice");
    expect(() => buildConfig(flags({ secret: ["../a=x"] }))).toThrow(/--secret "..\/a=x" must be NAME=VALUE/);
    expect(() => buildConfig(flags({ template: ["other=x"] }))).toThrow("--template other names no --secret other=...");
    expect(() => buildConfig(flags({ perms: ["app=0999"] }))).toThrow("--perms app=0999 must be an octal mode such as 0640");
    expect(() => buildConfig(flags({ refreshInterval: "soon" }))).toThrow('--refresh-interval "soon" is not a duration (e.g. 30s, 5m, 1h)');
  });

  it("parses durations and on-change actions", () => {
    expect(parseDuration("d", "1h30m")).toBe(5_400_000);
    expect(parseDuration("d", "500ms")).toBe(500);
    expect(parseDuration("d", "90")).toBe(90_000);
    expect(parseOnChange("SIGHUP")).toEqual({ kind: "signal", signal: "SIGHUP" });
    expect(parseOnChange("usr1")).toEqual({ kind: "signal", signal: "SIGUSR1" });
    expect(parseOnChange("http://app:8080/-/reload")).toEqual({ kind: "http", url: "http://app:8080/-/reload" });
    expect(parseOnChange("exec:nginx -s reload")).toEqual({ kind: "exec", argv: ["nginx", "-s", "reload"] });
    expect(() => parseOnChange("SIGKILLX")).toThrow(/must be a signal/);
    expect(() => parseOnChange("exec:  ")).toThrow("--on-change exec: needs a command");
  });
});
