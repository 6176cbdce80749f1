import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DEFAULT_CONFIG } from "../../src/server/config.js";
import { devServer, type DevServer } from "../helpers/server.js";

let s: DevServer;
let dir: string;
beforeEach(async () => {
  s = await devServer();
  dir = mkdtempSync(join(tmpdir(), "latchkey-edge-"));
});
afterEach(async () => {
  await s.close();
  rmSync(dir, { recursive: true, force: true });
});

/** `{"a":{"a":...1}}`, `levels` objects deep, as text: building it as an object and stringifying would overflow. */
const nested = (levels: number) => '{"a":'.repeat(levels) + "1" + "}".repeat(levels);

const TOO_DEEP = { errors: ["request body nesting exceeds the maximum depth of 300"] };

describe("deeply nested JSON", () => {
  it("refuses a KV write nested 5,000 deep with 400 and stores nothing", async () => {
    const res = await s.request("POST", "secret/data/deep", { rawBody: `{"data":${nested(5000)}}` });
    expect(res.status).toBe(400);
    expect(res.json).toEqual(TOO_DEEP);
    expect((await s.request("GET", "secret/data/deep")).status).toBe(404);
  });

  it("refuses a KV PATCH nested 4,000 deep with 400 and leaves the secret as it was", async () => {
    await s.request("POST", "secret/data/patched", { body: { data: { a: "1" } } });
    const res = await s.request("PATCH", "secret/data/patched", {
      rawBody: `{"data":${nested(4000)}}`,
      headers: { "content-type": "application/merge-patch+json" },
    });
    expect(res.status).toBe(400);
    expect(res.json).toEqual(TOO_DEEP);
    expect((await s.request("GET", "secret/data/patched")).json.data).toMatchObject({ data: { a: "1" }, metadata: { version: 1 } });
  });

  it("takes a body exactly at the depth limit and refuses one level more", async () => {
    // The body object itself is one level.
    expect((await s.request("POST", "secret/data/at-limit", { rawBody: `{"data":${nested(299)}}` })).status).toBe(200);
    const over = await s.request("POST", "secret/data/over-limit", { rawBody: `{"data":${nested(300)}}` });
    expect(over.json).toEqual(TOO_DEEP);
  });

  it("honours a configured max_json_depth", async () => {
    const strict = await devServer({ listener: { ...DEFAULT_CONFIG.listener, maxJsonDepth: 3 } });
    try {
      expect((await strict.request("POST", "secret/data/x", { body: { data: { a: { b: 1 } } } })).status).toBe(200);
      const res = await strict.request("POST", "secret/data/x", { body: { data: { a: { b: [1] } } } });
      expect(res.status).toBe(400);
      expect(res.json).toEqual({ errors: ["request body nesting exceeds the maximum depth of 3"] });
    } finally {
      await strict.close();
    }
  });

  it("refuses a Kubernetes role whose namespace selector nests 20,000 deep with 400", async () => {
    expect((await s.request("POST", "sys/auth/kubernetes", { body: { type: "kubernetes" } })).status).toBe(204);
    const role = (selector: string) => ({
      bound_service_account_names: ["app"],
      bound_service_account_namespace_selector: selector,
      token_policies: ["default"],
    });
    // Twice: before the fix the second such selector took the process down.
    for (const selector of [nested(20_000), "[".repeat(20_000) + "]".repeat(20_000)]) {
      const res = await s.request("POST", "auth/kubernetes/role/deep", { body: role(selector) });
      expect(res.status).toBe(400);
      expect(res.json).toEqual({
        errors: ['invalid "bound_service_account_namespace_selector": nesting exceeds the maximum depth of 300'],
      });
    }
    expect((await s.request("GET", "auth/kubernetes/role/deep")).status).toBe(404);
    expect((await s.request("POST", "auth/kubernetes/role/ok", { body: role('{"matchLabels":{"team":"a"}}') })).status).toBe(204);
  });
});

describe("audit device options", () => {
  const enable = (options: Record<string, unknown>) =>
    s.request("PUT", "sys/audit/x", { body: { type: "file", options } });

  it("refuses a file_path that is a directory with 400", async () => {
    const res = await enable({ file_path: dir });
    expect(res.status).toBe(400);
    expect(res.json).toEqual({ errors: [`audit option "file_path" ${JSON.stringify(dir)} is a directory (EISDIR)`] });
  });

  it("refuses a file_path in a missing directory with 400", async () => {
    const filePath = join(dir, "no-such-dir", "audit.log");
    const res = await enable({ file_path: filePath });
    expect(res.status).toBe(400);
    expect(res.json).toEqual({
      errors: [`audit option "file_path" ${JSON.stringify(filePath)} is in a directory that does not exist (ENOENT)`],
    });
  });

  it.each([["abc"], ["0999"], ["8"], [""], [600]])("refuses mode %o with 400 and enables nothing", async (mode) => {
    const res = await enable({ file_path: join(dir, "audit.log"), mode });
    expect(res.status).toBe(400);
    expect(res.json).toEqual({ errors: ['audit option "mode" must be an octal file mode such as "0600"'] });
    expect((await s.request("GET", "sys/audit")).json.data ?? {}).toEqual({});
  });

  it("takes an octal mode with or without the leading zero and shows it canonical", async () => {
    const filePath = join(dir, "audit.log");
    expect((await enable({ file_path: filePath, mode: "640" })).status).toBe(204);
    expect(statSync(filePath).mode & 0o777).toBe(0o640);
    expect((await s.request("GET", "sys/audit")).json.data["x/"].options).toEqual({ file_path: filePath, mode: "0640" });
  });
});

describe("errors fastify raises itself keep Vault's envelope", () => {
  it("gives 400 for malformed percent-encoding in the path", async () => {
    const res = await s.request("GET", "/v1/secret/data/%zz");
    expect(res.status).toBe(400);
    expect(res.json).toEqual({ errors: ["invalid request path: malformed percent-encoding"] });
  });

  it("reads a JSON body whatever its content type", async () => {
    const res = await s.request("POST", "secret/data/typed", { rawBody: '{"data":{"a":"b"}}', headers: { "content-type": "text/plain" } });
    expect(res.status).toBe(200);
  });

  it("treats an empty JSON body as no data", async () => {
    const res = await s.request("POST", "secret/data/empty", { rawBody: "" });
    expect(res.status).toBe(400);
    expect(res.json).toEqual({ errors: ["no data provided"] });
  });

  it("gives 404 outside /v1 and 413 over the size limit in the envelope", async () => {
    const notApi = await s.request("GET", "/ui/");
    expect(notApi.status).toBe(404);
    expect(notApi.json).toEqual({ errors: ["no handler for GET /ui/: the API lives under /v1/"] });
    const big = await s.request("POST", "secret/data/big", { rawBody: `{"data":{"v":"${"x".repeat(1024 * 1024)}"}}` });
    expect(big.status).toBe(413);
    expect(big.json).toEqual({ errors: ["request body too large: the limit is 1048576 bytes"] });
  });
});
