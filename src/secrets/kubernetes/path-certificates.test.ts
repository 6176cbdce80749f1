import * as x509 from "@peculiar/x509";
import { describe, expect, it } from "vitest";
import { CERT, engineCore, fakeCluster, KEY, OTHER_KEY } from "./test-harness.js";

/** 18 days before CERT's notAfter (2126-11-07T20:33:00Z). */
const NOW = Date.parse("2126-10-20T20:33:00Z");

describe("certificate verbs", () => {
  it("generate-csr keeps the key in the barrier and export-classic-key returns it", async () => {
    const lk = await engineCore(fakeCluster());
    const res = await lk.request("POST", "kube/csr/k8s/prod/csr/alice", { generate_key: true, common_name: "alice", organization: "ops", key_algorithm: "RSA2048" });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const csr = new x509.Pkcs10CertificateRequest(res.body.data.csr);
    expect(csr.subject).toBe("CN=alice, O=ops");
    expect(JSON.stringify(res.body)).not.toContain("PRIVATE KEY");
    expect(JSON.stringify((await lk.request("GET", "kube/csr/k8s/prod/csr/alice")).body)).not.toContain("PRIVATE KEY");
    const key = (await lk.request("GET", "kube/csr/k8s/prod/csr/alice/key")).body.data.key as string;
    expect(key).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    const disk = await lk.stored();
    expect(disk).not.toContain("PRIVATE KEY");
    expect(disk).not.toContain(key.split("\n")[1]);
  });

  it.each([
    [{ common_name: "a" }, `field "generate_key" must be true: latchkey makes the key`],
    [{ generate_key: true }, `field "common_name" is required`],
    [{ generate_key: true, common_name: "a", key_algorithm: "DSA" }, `field "key_algorithm" must be one of RSA2048, RSA4096, EC256`],
  ])("generate-csr refuses %j", async (body, message) => {
    const lk = await engineCore(fakeCluster());
    expect(await lk.request("POST", "kube/csr/x", body)).toEqual({ status: 400, body: { errors: [message] } });
  });

  it("create-certificate raises an expiration event the given days before notAfter: warn log, gauge, list-events", async () => {
    const lk = await engineCore(fakeCluster(), { now: () => NOW });
    const soon = await lk.request("POST", "kube/certificates/k8s/alice", { certificate_data: Buffer.from(CERT).toString("base64"), key_data: KEY, expiration_event_in: 30 });
    expect(soon.status, JSON.stringify(soon.body)).toBe(200);
    expect(soon.body.data).toEqual({ name: "k8s/alice", expiration: "2126-11-07T20:33:00.000Z", expiration_event_in: 30 });
    expect((await lk.request("POST", "kube/certificates/k8s/bob", { certificate_data: CERT, expiration_event_in: 10 })).status).toBe(200);
    const events = await lk.request("GET", "kube/events");
    expect(events.body.data.events).toEqual([
      { name: "k8s/alice", type: "certificate-pending-expiration", expiration: "2126-11-07T20:33:00.000Z", seconds_left: 18 * 86_400 },
    ]);
    const warned = lk.logger.records.filter((r) => r.level === "warn" && r.msg === "certificate expires soon");
    expect(warned.map((r) => (r.obj as { name: string }).name)).toContain("k8s/alice");
    expect(warned.map((r) => (r.obj as { name: string }).name)).not.toContain("k8s/bob");
    expect(lk.logger.text()).not.toContain("PRIVATE KEY");
    // The gauge is in the core's own registry, the one sys/metrics serves.
    const gauge = await lk.core.metrics.registry.getSingleMetric("latchkey_certificate_expiry_seconds")?.get();
    expect(gauge?.values).toContainEqual({ labels: { mount: "kube/", name: "k8s/bob" }, value: 18 * 86_400 });
    const read = await lk.request("GET", "kube/certificates/k8s/alice");
    expect(read.body.data).toMatchObject({ key_set: true, certificate_data: CERT });
    expect(JSON.stringify(read.body)).not.toContain("PRIVATE KEY");
    expect((await lk.request("LIST", "kube/certificates")).body.data.keys).toEqual(["k8s/alice", "k8s/bob"]);
  });

  it.each([
    [{}, `field "certificate_data" is required`],
    [{ certificate_data: "not a pem" }, undefined],
    [{ certificate_data: CERT, key_data: OTHER_KEY }, undefined],
    [{ certificate_data: CERT, expiration_event_in: -1 }, `field "expiration_event_in" must be a whole number of days`],
  ])("create-certificate refuses %j", async (body, message) => {
    const lk = await engineCore(fakeCluster());
    const res = await lk.request("POST", "kube/certificates/c", body);
    expect(res.status).toBe(400);
    if (message) expect(res.body.errors).toEqual([message]);
    expect((await lk.request("GET", "kube/certificates/c")).status).toBe(404);
  });
});
