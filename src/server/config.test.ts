import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
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

describe("storage.postgres", () => {
  const url = "postgres://latchkey:pw-in-config@db.example:5432/latchkey";

  it("takes the URL inline, with the default pool size and schema", () => {
    expect(parseConfig({ storage: { postgres: { url } } }).storage).toEqual({
      type: "postgres",
      url,
      poolSize: 10,
      schema: "latchkey",
    });
  });

  it("takes the URL from an environment variable or a file", () => {
    process.env.LATCHKEY_CONFIG_TEST_PG = `${url}\n`;
    try {
      expect(parseConfig({ storage: { postgres: { url_env: "LATCHKEY_CONFIG_TEST_PG", pool_size: 4, schema: "ha_1" } } }).storage)
        .toEqual({ type: "postgres", url, poolSize: 4, schema: "ha_1" });
    } finally {
      delete process.env.LATCHKEY_CONFIG_TEST_PG;
    }
    const dir = mkdtempSync(join(tmpdir(), "latchkey-config-"));
    writeFileSync(join(dir, "url"), `${url}\n`);
    expect(parseConfig({ storage: { postgres: { url_file: join(dir, "url") } } }).storage).toMatchObject({ url });
    rmSync(dir, { recursive: true });
  });

  it("refuses a missing, doubled or unreadable URL, a bad pool size or schema, without echoing the URL", () => {
    const cases: [unknown, RegExp][] = [
      [{}, /exactly one of url, url_env or url_file/],
      [{ url, url_env: "X" }, /exactly one of/],
      [{ url_env: "LATCHKEY_CONFIG_TEST_UNSET" }, /LATCHKEY_CONFIG_TEST_UNSET, which is not set/],
      [{ url_file: "/nonexistent/latchkey-url" }, /cannot read storage.postgres.url_file \/nonexistent\/latchkey-url: ENOENT/],
      [{ url: "mysql://x" }, /must start with postgres:\/\//],
      [{ url, pool_size: 0 }, /pool_size must be an integer/],
      [{ url, schema: "Robert'); DROP" }, /schema must be a lower-case identifier/],
      [{ url, password: "x" }, /unknown key "storage.postgres.password"/],
    ];
    for (const [postgres, message] of cases) {
      let err: unknown;
      try {
        parseConfig({ storage: { postgres } });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toMatch(message);
      expect((err as Error).message).not.toContain("pw-in-config");
    }
    expect(() => parseConfig({ storage: { postgres: { url }, sqlite: { path: "x" } } })).toThrow(/one backend/);
  });
});

describe("api_addr", () => {
  it("is unset by default and kept as a URL without its trailing slash", () => {
    expect(parseConfig({}).apiAddr).toBeUndefined();
    expect(parseConfig({ api_addr: "https://latchkey-0.latchkey.svc:8200/" }).apiAddr).toBe("https://latchkey-0.latchkey.svc:8200");
    expect(parseConfig({ api_addr: "http://10.0.0.7:8200" }).apiAddr).toBe("http://10.0.0.7:8200");
  });

  it("refuses what is not an http or https URL, naming the key", () => {
    for (const bad of ["latchkey-0:8200", "ftp://latchkey:21", "", 8200, "https://user:pw@latchkey:8200", "https://latchkey:8200/?x=1"]) {
      expect(() => parseConfig({ api_addr: bad }, "ha.yaml")).toThrow(
        new ConfigError("ha.yaml: api_addr must be an http:// or https:// URL such as https://latchkey-0.latchkey:8200"),
      );
    }
  });
});

describe("cache_size and disable_cache", () => {
  it("defaults to Vault's 131072 entries; disable_cache or 0 turns the cache off", () => {
    expect(parseConfig({}).cacheSize).toBe(131_072);
    expect(parseConfig({ cache_size: 1000 }).cacheSize).toBe(1000);
    expect(parseConfig({ cache_size: 0 }).cacheSize).toBe(0);
    expect(parseConfig({ cache_size: 1000, disable_cache: true }).cacheSize).toBe(0);
    expect(parseConfig({ disable_cache: false }).cacheSize).toBe(131_072);
  });

  it("refuses what is not a whole number or a boolean, naming the key", () => {
    for (const bad of [-1, 1.5, "100"]) {
      expect(() => parseConfig({ cache_size: bad }, "c.yaml")).toThrow(new ConfigError("c.yaml: cache_size must be a whole number of entries, 0 for no cache"));
    }
    expect(() => parseConfig({ disable_cache: "yes" }, "c.yaml")).toThrow(new ConfigError("c.yaml: disable_cache must be true or false"));
  });
});
