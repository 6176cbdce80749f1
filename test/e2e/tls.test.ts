import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { freshHome, runCli, startServerProcess } from "../helpers/process.js";

describe("HTTPS listener", () => {
  it("serves over TLS and the CLI trusts it through LATCHKEY_CACERT", async () => {
    const dir = mkdtempSync(join(tmpdir(), "latchkey-tls-"));
    const cert = join(dir, "cert.pem");
    const key = join(dir, "key.pem");
    execFileSync("openssl", [
      "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
      "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
      "-keyout", key, "-out", cert,
    ], { stdio: "ignore" });
    const config = join(dir, "latchkey.yaml");
    writeFileSync(config, `listener: {address: "127.0.0.1:0", tls_cert_file: ${cert}, tls_key_file: ${key}}\nlog_level: warn\n`);
    const server = await startServerProcess(["--dev", "--dev-root-token", "lks.tls-root", "--config", config]);
    try {
      expect(server.address).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      const env = { LATCHKEY_ADDR: server.address, LATCHKEY_TOKEN: "lks.tls-root", HOME: freshHome() };
      const untrusted = runCli(["status"], env);
      expect(untrusted.code).toBe(1);
      expect(untrusted.stderr).toMatch(/LATCHKEY_CACERT/);
      const trusted = runCli(["status"], { ...env, LATCHKEY_CACERT: cert });
      expect(trusted.code).toBe(0);
      expect(trusted.stdout).toMatch(/Sealed\s+false/);
    } finally {
      await server.stop();
    }
  });
});
