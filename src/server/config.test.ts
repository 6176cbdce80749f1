import { describe, expect, it } from "vitest";
import { ConfigError, DEFAULT_CONFIG, parseConfig } from "./config.js";

describe("listener limits", () => {
  it("defaults to Vault's timeouts and JSON depth, and a connection cap", () => {
    expect(parseConfig({}).listener).toEqual({
      address: "127.0.0.1:8200",
      readHeaderTimeoutMs: 10_000,
      readTimeoutMs: 30_000,
      idleTimeoutMs: 300_000,
      maxConnections: 4096,
      maxJsonDepth: 300,
    });
    expect(parseConfig({ listener: { address: "0.0.0.0:8200" } }).listener).toMatchObject({ readTimeoutMs: 30_000 });
  });

  it("reads Go-style durations and numbers of seconds", () => {
    const cfg = parseConfig({
      listener: {
        http_read_header_timeout: "5s",
        http_read_timeout: 20,
        http_idle_timeout: "2m",
        max_connections: 100,
        max_json_depth: 50,
      },
    });
    expect(cfg.listener).toMatchObject({
      readHeaderTimeoutMs: 5_000,
      readTimeoutMs: 20_000,
      idleTimeoutMs: 120_000,
      maxConnections: 100,
      maxJsonDepth: 50,
    });
  });

  it.each([
    [{ http_read_timeout: "soon" }, 'f: field "listener.http_read_timeout" must be a duration such as "30s", "5m", "1h" or a number of seconds'],
    [{ http_read_timeout: "0s" }, "f: listener.http_read_timeout must be at least 1s"],
    [{ http_idle_timeout: "500ms" }, "f: listener.http_idle_timeout must be at least 1s"],
    [{ http_read_header_timeout: "1m" }, "f: listener.http_read_header_timeout must not exceed listener.http_read_timeout"],
    [{ max_connections: 0 }, "f: listener.max_connections must be a positive whole number"],
    [{ max_connections: "many" }, "f: listener.max_connections must be a positive whole number"],
    [{ max_json_depth: 1.5 }, "f: listener.max_json_depth must be a positive whole number"],
    [{ read_timeout: "30s" }, 'f: unknown key "listener.read_timeout"'],
  ])("refuses %o", (listener, message) => {
    expect(() => parseConfig({ listener }, "f")).toThrow(new ConfigError(message));
  });

  it("leaves the defaults untouched when a file sets them", () => {
    parseConfig({ listener: { max_connections: 1 } });
    expect(DEFAULT_CONFIG.listener.maxConnections).toBe(4096);
  });
});
