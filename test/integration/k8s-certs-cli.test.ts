/**
 * Reference 001's client-certificate flow from the CLI against the real
 * cluster: generate-csr, a CertificateSigningRequest applied with kubectl,
 * `kubectl certificate approve`, the controller-manager's certificate read
 * back with kubectl, create-certificate with an expiration event, and
 * list-events showing it; the exported key and the certificate then
 * authenticate to the API server.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanup, clientWithCertificate, deleteOnCleanup, eventually, kubectl, uniqueName } from "../helpers/k8s.js";
import { freshHome, runCli, startServerProcess, type CliResult, type ServerProcess } from "../helpers/process.js";

const ROOT = "lks.k8s-certs-cli-root";

describe("certificate verbs from the CLI, against a real cluster", () => {
  let server: ServerProcess;
  let operator: Record<string, string>;
  const ok = (result: CliResult): string => {
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    return result.stdout;
  };

  beforeAll(async () => {
    server = await startServerProcess(["--dev", "--dev-root-token", ROOT, "--listen", "127.0.0.1:0"]);
    operator = { LATCHKEY_ADDR: server.address, LATCHKEY_TOKEN: ROOT, HOME: freshHome() };
    ok(runCli(["secrets", "enable", "kubernetes"], operator));
  });

  afterAll(async () => {
    await server?.stop();
    await cleanup();
  });

  it("generate-csr, kubectl certificate approve, create-certificate --expiration-event-in, list-events", async () => {
    const user = uniqueName("token-request-user");
    const keyName = `/k8s/Clustername/csr/${user}`;
    const csr = ok(runCli(["generate-csr", "-n", keyName, "--generate-key", "--alg", "RSA2048", "--common-name", user, "--org", "Akeyless-dynamic-secret", "--json", "--jq-expression", ".data"], operator));
    expect(csr).toMatch(/^-----BEGIN CERTIFICATE REQUEST-----/);
    const key = ok(runCli(["export-classic-key", "-n", keyName, "--jq-expression", ".key"], operator));
    expect(key).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(server.output()).not.toContain("PRIVATE KEY");

    deleteOnCleanup(`/apis/certificates.k8s.io/v1/certificatesigningrequests/${user}`);
    const manifest = [
      "apiVersion: certificates.k8s.io/v1",
      "kind: CertificateSigningRequest",
      "metadata:",
      `  name: ${user}`,
      "spec:",
      "  groups:",
      "  - system:authenticated",
      `  request: ${Buffer.from(csr).toString("base64")}`,
      "  signerName: kubernetes.io/kube-apiserver-client",
      "  usages:",
      "  - client auth",
      "",
    ].join("\n");
    await kubectl(["apply", "-f", "-"], { input: manifest });
    await kubectl(["certificate", "approve", user]);
    let cert = "";
    await eventually("the controller-manager signs the CSR", async () => {
      cert = await kubectl(["get", "csr", user, "-o", "jsonpath={.status.certificate}"]);
      return cert !== "";
    }, 60_000);

    // The signer issues for a year at most: an event 400 days ahead is due now, one 1 day ahead is not.
    const certName = `/k8s/Clustername/certificates/${user}`;
    const keyData = Buffer.from(key).toString("base64");
    const created = ok(runCli(["create-certificate", "--name", certName, "--certificate-data", cert, "--key-data", keyData, "--expiration-event-in", "400"], operator));
    expect(created).toMatch(new RegExp(`^Success! Created certificate ${certName.slice(1)} at kubernetes/certificates/${certName.slice(1)}; it expires at 20`));
    ok(runCli(["create-certificate", "--name", `${certName}-later`, "--certificate-data", cert, "--expiration-event-in", "1"], operator));
    const events = JSON.parse(ok(runCli(["list-events", "--json"], operator))) as { events: { name: string; type: string }[] };
    expect(events.events.map((e) => [e.type, e.name])).toEqual([["certificate-pending-expiration", certName.slice(1)]]);
    expect(ok(runCli(["list-events"], operator))).toMatch(new RegExp(`^certificate-pending-expiration\\t${certName.slice(1)}\\texpires 20`));
    await eventually("the server warns", async () => server.output().includes("certificate expires soon"), 10_000);
    expect(server.output()).not.toContain("PRIVATE KEY");
    const metrics = await fetch(`${server.address}/v1/sys/metrics?format=prometheus`, { headers: { "x-vault-token": ROOT } });
    expect(metrics.status).toBe(200);
    // The expiry gauge is served with the core's own metrics.
    expect(await metrics.text()).toMatch(new RegExp(`latchkey_certificate_expiry_seconds\\{[^}]*name="${certName.slice(1)}"[^}]*\\} \\d`));

    // The certificate and the exported key are a working identity.
    const client = clientWithCertificate(Buffer.from(cert, "base64").toString("utf8"), key);
    // A certificate the API server did not accept would answer 401.
    const access = await client.create<{ status?: { allowed?: boolean } }>("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", {
      apiVersion: "authorization.k8s.io/v1",
      kind: "SelfSubjectAccessReview",
      spec: { resourceAttributes: { verb: "get", resource: "pods", namespace: "default" } },
    });
    expect(access.status).toBeDefined();
  }, 120_000);

  it("refuses bad input with a message naming it", () => {
    const noKey = runCli(["generate-csr", "-n", "x", "--common-name", "x"], operator);
    expect(noKey.code).not.toBe(0);
    expect(noKey.stderr).toContain("--generate-key is required");
    const badDays = runCli(["create-certificate", "--name", "x", "--certificate-data", "x", "--expiration-event-in", "soon"], operator);
    expect(badDays.stderr).toContain("--expiration-event-in must be a whole number of days");
    const badJq = runCli(["export-classic-key", "-n", "x", "--jq-expression", ".a | .b"], operator);
    expect(badJq.stderr).toContain("--jq-expression supports only dotted paths");
    const noSuch = runCli(["export-classic-key", "-n", "absent"], operator);
    expect(noSuch.code).not.toBe(0);
    expect(noSuch.stderr).toMatch(/no key named/);
  });
});
