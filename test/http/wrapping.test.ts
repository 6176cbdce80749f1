import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { devServer, type DevServer } from "../helpers/server.js";

let s: DevServer;
beforeEach(async () => {
  s = await devServer();
  expect((await s.request("POST", "secret/data/app", { body: { data: { password: "hunter2" } } })).status).toBe(200);
});
afterEach(async () => {
  await s.close();
});

const wrapped = (ttl = "5m") => ({ headers: { "x-vault-wrap-ttl": ttl } });

async function wrappedRead(ttl?: string) {
  const res = await s.request("GET", "secret/data/app", wrapped(ttl));
  expect(res.status).toBe(200);
  return res;
}

describe("X-Vault-Wrap-TTL", () => {
  it("answers a read with wrap_info instead of the secret", async () => {
    const res = await wrappedRead();
    expect(res.json.data).toBeNull();
    expect(res.json.auth).toBeNull();
    expect(res.text).not.toContain("hunter2");
    expect(res.json.wrap_info).toMatchObject({ ttl: 300, creation_path: "secret/data/app" });
    expect(res.json.wrap_info.token).toMatch(/^lks\./);
    expect(res.json.wrap_info.accessor).toMatch(/^[0-9A-Za-z]{24}$/);
    expect(Number.isNaN(Date.parse(res.json.wrap_info.creation_time))).toBe(false);
  });

  it("refuses a malformed or out-of-range TTL with 400 naming the header", async () => {
    for (const ttl of ["soon", "0", "10000h"]) {
      const res = await s.request("GET", "secret/data/app", wrapped(ttl));
      expect(res.status).toBe(400);
      expect(res.json.errors[0]).toContain("X-Vault-Wrap-TTL");
    }
  });

  it("wraps a token creation, naming the wrapped token's accessor", async () => {
    const res = await s.request("POST", "auth/token/create", { body: { policies: ["default"] }, ...wrapped() });
    expect(res.json.auth).toBeNull();
    const accessor = res.json.wrap_info.wrapped_accessor as string;
    expect(accessor).toMatch(/^[0-9A-Za-z]{24}$/);
    const unwrapped = await s.request("POST", "sys/wrapping/unwrap", { token: res.json.wrap_info.token });
    expect(unwrapped.json.auth.accessor).toBe(accessor);
    const inner = unwrapped.json.auth.client_token as string;
    expect((await s.request("GET", "auth/token/lookup-self", { token: inner })).status).toBe(200);
  });
});

describe("sys/wrapping/unwrap", () => {
  it("hands the response out once, to the wrapping token itself", async () => {
    const token = (await wrappedRead()).json.wrap_info.token as string;
    const first = await s.request("POST", "sys/wrapping/unwrap", { token });
    expect(first.status).toBe(200);
    expect(first.json.data.data).toEqual({ password: "hunter2" });
    // Vault names the wrapping token rather than refusing the client token.
    const second = await s.request("POST", "sys/wrapping/unwrap", { token });
    expect(second.status).toBe(400);
    expect(second.json.errors).toEqual(["wrapping token is not valid or does not exist"]);
  });

  it("hands the response out once, to another token naming it in the body", async () => {
    const token = (await wrappedRead()).json.wrap_info.token as string;
    const first = await s.request("POST", "sys/wrapping/unwrap", { body: { token } });
    expect(first.json.data.data).toEqual({ password: "hunter2" });
    const second = await s.request("POST", "sys/wrapping/unwrap", { body: { token } });
    expect(second.status).toBe(400);
    expect(second.json.errors).toEqual(["wrapping token is not valid or does not exist"]);
  });

  it("gives the response to exactly one of ten concurrent unwraps", async () => {
    const token = (await wrappedRead()).json.wrap_info.token as string;
    const answers = await Promise.all(
      Array.from({ length: 10 }, () => s.request("POST", "sys/wrapping/unwrap", { body: { token } })),
    );
    expect(answers.filter((a) => a.status === 200)).toHaveLength(1);
  });

  it("lets a wrapping token do nothing but unwrap", async () => {
    const token = (await wrappedRead()).json.wrap_info.token as string;
    expect((await s.request("GET", "secret/data/app", { token })).status).toBe(403);
    expect((await s.request("POST", "auth/token/create", { token, body: {} })).status).toBe(403);
  });

  it("refuses a token that is not a wrapping token", async () => {
    const res = await s.request("POST", "sys/wrapping/unwrap", { body: { token: "lks.not-a-wrapping-token" } });
    expect(res.status).toBe(400);
  });

  it("refuses an expired wrapping token", async () => {
    const token = (await wrappedRead("1s")).json.wrap_info.token as string;
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect((await s.request("POST", "sys/wrapping/unwrap", { body: { token } })).status).toBe(400);
  });
});

describe("sys/wrapping/lookup, rewrap and wrap", () => {
  it("looks a wrapping token up without a client token and without using it", async () => {
    const token = (await wrappedRead()).json.wrap_info.token as string;
    const lookup = await s.request("POST", "sys/wrapping/lookup", { token: null, body: { token } });
    expect(lookup.status).toBe(200);
    expect(lookup.json.data).toMatchObject({ creation_path: "secret/data/app", creation_ttl: 300 });
    const asClientToken = await s.request("POST", "sys/wrapping/lookup", { token });
    expect(asClientToken.json.data).toEqual(lookup.json.data);
    expect((await s.request("POST", "sys/wrapping/unwrap", { token })).status).toBe(200);
    expect((await s.request("POST", "sys/wrapping/lookup", { token: null, body: { token } })).status).toBe(400);
  });

  it("rewraps into a new token and retires the old one", async () => {
    const old = (await wrappedRead()).json.wrap_info.token as string;
    const rewrap = await s.request("POST", "sys/wrapping/rewrap", { body: { token: old } });
    expect(rewrap.status).toBe(200);
    const fresh = rewrap.json.wrap_info.token as string;
    expect(fresh).not.toBe(old);
    expect(rewrap.json.wrap_info.creation_path).toBe("secret/data/app");
    expect((await s.request("POST", "sys/wrapping/unwrap", { body: { token: old } })).status).toBe(400);
    expect((await s.request("POST", "sys/wrapping/unwrap", { body: { token: fresh } })).json.data.data).toEqual({
      password: "hunter2",
    });
  });

  it("wraps the caller's own data, and needs a TTL to do so", async () => {
    const res = await s.request("POST", "sys/wrapping/wrap", { body: { api_key: "k-123" }, ...wrapped() });
    expect(res.json.wrap_info.creation_path).toBe("sys/wrapping/wrap");
    const unwrapped = await s.request("POST", "sys/wrapping/unwrap", { token: res.json.wrap_info.token });
    expect(unwrapped.json.data).toEqual({ api_key: "k-123" });
    const unwrappedTwice = await s.request("POST", "sys/wrapping/wrap", { body: { api_key: "k-123" } });
    expect(unwrappedTwice.status).toBe(400);
  });

  it("lets a token with only the default policy wrap, look up and unwrap", async () => {
    const plain = (await s.request("POST", "auth/token/create", { body: { policies: ["default"] } })).json.auth
      .client_token as string;
    const res = await s.request("POST", "sys/wrapping/wrap", { token: plain, body: { v: "1" }, ...wrapped() });
    expect(res.status).toBe(200);
    const token = res.json.wrap_info.token as string;
    expect((await s.request("POST", "sys/wrapping/lookup", { token: plain, body: { token } })).status).toBe(200);
    expect((await s.request("POST", "sys/wrapping/unwrap", { token: plain, body: { token } })).json.data).toEqual({ v: "1" });
  });
});

describe("what a wrapping token leaves behind", () => {
  it("nothing, once the wrapping token is revoked unused", async () => {
    const info = (await wrappedRead()).json.wrap_info;
    const stored = () => s.core.barrier.view("sys/wrapping/").list("response/");
    expect(await stored()).toHaveLength(1);
    expect((await s.request("POST", "auth/token/revoke-accessor", { body: { accessor: info.accessor } })).status).toBe(204);
    expect(await stored()).toEqual([]);
  });
});

describe("min_wrapping_ttl and max_wrapping_ttl", () => {
  it("make a path answer only wrapped, within the policy's bounds", async () => {
    await s.request("PUT", "sys/policies/acl/wrapped-only", {
      body: { policy: 'path "secret/data/app" {\n  capabilities = ["read"]\n  min_wrapping_ttl = "1m"\n  max_wrapping_ttl = "10m"\n}' },
    });
    const token = (await s.request("POST", "auth/token/create", { body: { policies: ["wrapped-only"] } })).json.auth
      .client_token as string;
    const bare = await s.request("GET", "secret/data/app", { token });
    expect(bare.status).toBe(400);
    expect(bare.json.errors[0]).toContain("X-Vault-Wrap-TTL");
    expect((await s.request("GET", "secret/data/app", { token, ...wrapped("30s") })).status).toBe(400);
    expect((await s.request("GET", "secret/data/app", { token, ...wrapped("1h") })).status).toBe(400);
    const ok = await s.request("GET", "secret/data/app", { token, ...wrapped("5m") });
    expect(ok.status).toBe(200);
    expect(ok.json.wrap_info.ttl).toBe(300);
  });
});
