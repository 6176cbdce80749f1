import { X509Certificate } from "node:crypto";
import { describe, expect, it } from "vitest";
import { microTime } from "./leader.js";
import { exportCa, generateCa, importCa, issueServing } from "./tls.js";

describe("what replicas share through the TLS Secret and the Lease", () => {
  it("a CA exported by one replica signs again after another imports it", async () => {
    const ca = await generateCa(3_600_000);
    const stored = await exportCa(ca);
    expect(stored.key).toMatch(/^-----BEGIN PRIVATE KEY-----\n[\s\S]+\n-----END PRIVATE KEY-----\n$/);
    const imported = await importCa(stored.cert, stored.key);
    expect(imported.subject).toBe(ca.subject);
    const pair = await issueServing(imported, ["127.0.0.1", "latchkey-injector.latchkey.svc"], 60_000);
    const serving = new X509Certificate(pair.cert);
    expect(serving.verify(new X509Certificate(ca.pem).publicKey)).toBe(true);
    expect(serving.checkIP("127.0.0.1")).toBe("127.0.0.1");
    expect(serving.checkHost("latchkey-injector.latchkey.svc")).toBe("latchkey-injector.latchkey.svc");
  });

  it("a CA that did not sign the certificate does not verify it", async () => {
    const [a, b] = [await generateCa(3_600_000), await generateCa(3_600_000)];
    const stored = await exportCa(a);
    const pair = await issueServing(await importCa(stored.cert, stored.key), ["127.0.0.1"], 60_000);
    expect(new X509Certificate(pair.cert).verify(new X509Certificate(b.pem).publicKey)).toBe(false);
  });

  it("writes Lease times as MicroTime, six fractional digits", () => {
    expect(microTime(new Date("2026-12-02T01:02:03.456Z"))).toBe("2026-12-02T01:02:03.456000Z");
  });
});
