import { webcrypto } from "node:crypto";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import * as x509 from "@peculiar/x509";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ApiError, ConnectionError, createClient, encodeApiPath } from "./client.js";
import { describeFailure } from "./errors.js";
import { startFakeServer, type FakeServer } from "./test-support.js";

describe("client", () => {
  let server: FakeServer;
  beforeEach(async () => {
    server = await startFakeServer();
  });
  afterEach(async () => {
    await server.close();
  });

  it("sends the token as X-Vault-Token and JSON bodies", async () => {
    server.on("PUT", "secret/data/app", { body: { data: { version: 1 } } });
    const client = createClient({ address: `${server.address}/`, token: "lks.abc" });
    await expect(client.write("secret/data/app", { data: { a: "1" } })).resolves.toEqual({ data: { version: 1 } });
    const [req] = server.requests;
    expect(req.headers["x-vault-token"]).toBe("lks.abc");
    expect(req.headers["content-type"]).toBe("application/json");
    expect(req.body).toEqual({ data: { a: "1" } });
    await client.close();
  });

  it("sends no token header without a token", async () => {
    server.on("GET", "sys/seal-status", { body: { sealed: false } });
    const client = createClient({ address: server.address });
    await client.read("sys/seal-status");
    expect(server.requests[0].headers["x-vault-token"]).toBeUndefined();
    await client.close();
  });

  it("lists with GET ?list=true and reads with query parameters", async () => {
    server.on("GET", "secret/metadata", { body: { data: { keys: ["a"] } } });
    const client = createClient({ address: server.address });
    await expect(client.list("secret/metadata")).resolves.toEqual({ data: { keys: ["a"] } });
    await client.read("secret/metadata", { version: "2", tag: ["x", "y"] });
    expect(server.requests[0].query.get("list")).toBe("true");
    expect(server.requests[1].query.getAll("tag")).toEqual(["x", "y"]);
    await client.close();
  });

  it("treats 404 on reads as nothing there and 204 as no body", async () => {
    server.on("DELETE", "secret/data/app", { status: 204 });
    const client = createClient({ address: server.address });
    await expect(client.read("secret/data/none")).resolves.toBeUndefined();
    await expect(client.delete("secret/data/app")).resolves.toBeUndefined();
    await expect(client.write("secret/data/none", {})).rejects.toBeInstanceOf(ApiError);
    await client.close();
  });

  it("decodes error responses into ApiError without the query or the token", async () => {
    server.on("GET", "secret/data/app", { status: 403, body: { errors: ["permission denied", "token lks.abc is bad"] } });
    const client = createClient({ address: server.address, token: "lks.abc" });
    const err = await client.read("secret/data/app", { version: "1" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(describeFailure(err)).toBe(
      [
        "Error making API request.",
        "",
        `URL: GET ${server.address}/v1/secret/data/app`,
        "Code: 403. Errors:",
        "",
        "* permission denied",
        "* token <redacted> is bad",
      ].join("\n"),
    );
    await client.close();
  });

  it("shows the raw body of an error that is not JSON", async () => {
    server.on("GET", "sys/health", { status: 502, body: "bad gateway" });
    const client = createClient({ address: server.address });
    const err = await client.request({ method: "GET", path: "sys/health" }).catch((e: unknown) => e);
    expect(describeFailure(err)).toContain("Code: 502. Raw Message:\n\nbad gateway");
    await client.close();
  });

  it("escapes path segments but keeps slashes", () => {
    expect(encodeApiPath("/secret/data/my app/ü")).toBe("secret/data/my%20app/%C3%BC");
  });

  it("reports a refused connection with the address and a hint", async () => {
    const address = server.address;
    await server.close();
    server = await startFakeServer();
    const client = createClient({ address });
    const err = await client.read("sys/seal-status").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    expect(describeFailure(err)).toMatch(new RegExp(`^could not connect to latchkey at ${address}: .*ECONNREFUSED`));
    expect(describeFailure(err)).toContain("Set LATCHKEY_ADDR or -address");
    await client.close();
  });
});

describe("client over https", () => {
  let address: string;
  let caPem: string;
  let close: () => Promise<void>;

  beforeEach(async () => {
    x509.cryptoProvider.set(webcrypto);
    const algorithm = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
    const keys = await webcrypto.subtle.generateKey(algorithm, true, ["sign", "verify"]);
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      name: "CN=latchkey test",
      keys,
      signingAlgorithm: algorithm,
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.SubjectAlternativeNameExtension([{ type: "ip", value: "127.0.0.1" }]),
      ],
    });
    const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey)).toString("base64");
    const keyPem = `-----BEGIN PRIVATE KEY-----\n${pkcs8.replace(/.{64}/g, "$&\n")}\n-----END PRIVATE KEY-----\n`;
    caPem = cert.toString("pem");
    const server = createHttpsServer({ key: keyPem, cert: caPem }, (_req, res) => {
      res.writeHead(200, { "content-type": "application/json" }).end('{"sealed":false}');
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    address = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    close = () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
  });
  afterEach(async () => {
    await close();
  });

  it("trusts the given CA certificate", async () => {
    const client = createClient({ address, caCert: caPem });
    await expect(client.read("sys/seal-status")).resolves.toEqual({ sealed: false });
    await client.close();
  });

  it("rejects an unknown certificate with a hint about LATCHKEY_CACERT", async () => {
    const client = createClient({ address });
    const err = await client.read("sys/seal-status").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    expect(describeFailure(err)).toContain("Set LATCHKEY_CACERT");
    await client.close();
  });
});
