import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger } from "../../src/server/logger.js";
import { devServer, ROOT_TOKEN } from "../helpers/server.js";

describe("logs never carry secrets", () => {
  it("at debug level, through writes, reads, denials, errors and token creation", async () => {
    let logged = "";
    const sink = new Writable({
      write(chunk, _enc, done) {
        logged += chunk.toString();
        done();
      },
    });
    const s = await devServer({}, createLogger("trace", sink));
    try {
      const secret = "s3cr3t-value-that-must-not-be-logged";
      await s.request("POST", "secret/data/logged", { body: { data: { password: secret } } });
      await s.request("GET", "secret/data/logged");
      await s.request("PUT", "sys/policies/acl/narrow", { body: { policy: 'path "secret/data/x" { capabilities = ["read"] }' } });
      const created = (await s.request("POST", "auth/token/create", { body: { policies: ["narrow"] } })).json.auth;
      const token = created.client_token as string;
      const accessor = created.accessor as string;
      await s.request("POST", "secret/data/logged", { token, body: { data: { password: secret } } });
      await s.request("GET", "secret/data/logged", { token: `${token}x` });
      await s.request("POST", "secret/data/logged", { rawBody: `{"data": {"password": "${secret}"` });
      expect(logged).toContain("request denied by policy");
      // Denials name the token by a keyed hash of its accessor, never by the accessor.
      for (const needle of [secret, ROOT_TOKEN, token, accessor]) expect(logged).not.toContain(needle);
    } finally {
      await s.close();
    }
  });
});
