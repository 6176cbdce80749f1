import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { LatchkeyError } from "../errors.js";
import { recordingLogger } from "../leases/test-harness.js";
import { createAuditBroker } from "./broker.js";
import { createFileAuditDevice } from "./file.js";
import { hashValue } from "./hash.js";
import type { AuditDevice, AuditLine, AuditRequest, AuditResponse } from "./types.js";

const SECRET = "s3cr3t-database-password";
const TOKEN = "lks.Q2hhbmdlTWVQbGVhc2UxMjM0NTY3";
const ACCESSOR = "accessor-7f3a9c";
const LEASE_ID = "kubernetes/creds/demo/Ab12Cd34Ef56Gh78Ij90Kl12";
const saltA = new Uint8Array(32).fill(1);
const saltB = new Uint8Array(32).fill(2);

const request: AuditRequest = {
  auth: {
    clientToken: TOKEN,
    accessor: ACCESSOR,
    displayName: "kubernetes-demo",
    policies: ["default", "demo"],
    metadata: { service_account_name: "demo-sa", namespace: "team-a" },
    tokenType: "service",
  },
  request: {
    id: "9f7e2c1a-0000-4000-8000-000000000001",
    operation: "update",
    mountType: "kv",
    mountPoint: "secret/",
    path: "secret/data/app",
    data: { data: { password: SECRET, port: 5432, tls: true, hosts: ["db-1", { name: "db-2" }], none: null } },
    remoteAddress: "10.0.0.7",
  },
};

const response: AuditResponse = {
  ...request,
  response: {
    data: { password: SECRET, version: 3 },
    secret: { lease_id: LEASE_ID },
    auth: {
      client_token: "lks.child-token-value",
      accessor: "child-accessor",
      policies: ["demo"],
      metadata: { role: "demo" },
      lease_duration: 3600,
    },
    warnings: ["TTL capped to the mount's max_lease_ttl"],
  },
};

/** A device that keeps lines in memory and fails on demand. */
function memoryDevice(salt: Uint8Array, fail = false) {
  const lines: AuditLine[] = [];
  const device: AuditDevice = {
    type: "memory",
    description: "",
    options: {},
    hash: (value) => hashValue(salt, value),
    open: async () => {},
    write: async (line) => {
      if (fail) throw new Error("ENOSPC: no space left on device, write");
      lines.push(JSON.parse(line) as AuditLine);
    },
    reopen: async () => {},
    close: async () => {},
  };
  return { device, lines };
}

let dir: string;
const brokers: ReturnType<typeof createAuditBroker>[] = [];
/** A broker whose devices are closed after the test. */
function broker(deps: Parameters<typeof createAuditBroker>[0] = { logger: recordingLogger() }) {
  const created = createAuditBroker(deps);
  brokers.push(created);
  return created;
}
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "latchkey-audit-"));
});
afterEach(async () => {
  for (const b of brokers.splice(0)) await b.close();
  await rm(dir, { recursive: true, force: true });
});

describe("audit broker", () => {
  it("is a no-op with no devices enabled", async () => {
    const audit = broker();
    await audit.logRequest(request);
    await audit.logResponse(response);
    expect(audit.list()).toEqual([]);
  });

  it("never writes a secret or a token to the file, only their HMACs", async () => {
    const filePath = join(dir, "audit.log");
    const audit = broker({ logger: recordingLogger(), now: () => Date.UTC(2025, 0, 2, 3, 4, 5) });
    await audit.enable("file", createFileAuditDevice({ path: filePath, salt: saltA }));
    await audit.logRequest(request);
    await audit.logResponse(response);

    const text = await readFile(filePath, "utf8");
    for (const plain of [SECRET, TOKEN, ACCESSOR, LEASE_ID, "child-token-value", "child-accessor", "demo-sa", "team-a", "db-2"]) {
      expect(text).not.toContain(plain);
    }
    const h = (value: string) => hashValue(saltA, value);
    expect(h(SECRET)).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
    expect(text).toContain(h(SECRET));
    expect(text).toContain(h(TOKEN));
    expect(audit.hash("file/", SECRET)).toBe(h(SECRET));

    const [req, resp] = text.trimEnd().split("\n").map((l) => JSON.parse(l) as AuditLine);
    expect(req).toEqual({
      time: "2025-01-02T03:04:05.000Z",
      type: "request",
      auth: {
        client_token: h(TOKEN),
        accessor: h(ACCESSOR),
        display_name: "kubernetes-demo",
        policies: ["default", "demo"],
        metadata: { service_account_name: h("demo-sa"), namespace: h("team-a") },
        token_type: "service",
      },
      request: {
        id: "9f7e2c1a-0000-4000-8000-000000000001",
        operation: "update",
        mount_type: "kv",
        mount_point: "secret/",
        client_token: h(TOKEN),
        client_token_accessor: h(ACCESSOR),
        path: "secret/data/app",
        data: {
          data: { password: h(SECRET), port: h("5432"), tls: true, hosts: [h("db-1"), { name: h("db-2") }], none: null },
        },
        remote_address: "10.0.0.7",
      },
    });
    expect(resp.type).toBe("response");
    expect(resp.request).toEqual(req.request);
    expect(resp.response).toEqual({
      data: { password: h(SECRET), version: h("3") },
      secret: { lease_id: h(LEASE_ID) },
      auth: {
        client_token: h("lks.child-token-value"),
        accessor: h("child-accessor"),
        policies: ["demo"],
        metadata: { role: h("demo") },
        token_ttl: 3600,
      },
      warnings: ["TTL capped to the mount's max_lease_ttl"],
    });
  });

  it("leaves the entry it was given untouched", async () => {
    const audit = broker();
    await audit.enable("mem", memoryDevice(saltA).device);
    const copy = structuredClone(response);
    await audit.logResponse(response);
    expect(response).toEqual(copy);
  });

  it("records the error of a failed request", async () => {
    const audit = broker();
    const mem = memoryDevice(saltA);
    await audit.enable("mem", mem.device);
    await audit.logResponse({ ...request, error: "permission denied" });
    expect(mem.lines[0]).toMatchObject({ type: "response", error: "permission denied" });
  });

  it("never writes a number verbatim, in request data, response data or nested lists", async () => {
    const filePath = join(dir, "audit.log");
    const audit = broker();
    await audit.enable("file", createFileAuditDevice({ path: filePath, salt: saltA }));
    const PIN = 739182645;
    const withPin: AuditResponse = {
      ...request,
      request: { ...request.request, data: { card_pin: PIN, cards: [{ pin: PIN + 1 }, [PIN + 2]], ratio: 0.739182 } },
      response: { data: { card_pin: PIN, balance: -12.5 } },
    };
    await audit.logRequest(withPin);
    await audit.logResponse(withPin);
    const text = await readFile(filePath, "utf8");
    for (const plain of [PIN, PIN + 1, PIN + 2, 0.739182, -12.5]) expect(text).not.toContain(String(plain));
    const [req, resp] = text.trimEnd().split("\n").map((l) => JSON.parse(l) as AuditLine);
    const h = (value: string) => hashValue(saltA, value);
    expect(req.request.data).toEqual({
      card_pin: h("739182645"),
      cards: [{ pin: h("739182646") }, [h("739182647")]],
      ratio: h("0.739182"),
    });
    expect(resp.response?.data).toEqual({ card_pin: h("739182645"), balance: h("-12.5") });
    expect(audit.hash("file", "739182645")).toBe(h("739182645"));
  });

  it("hashes the request values quoted in an error, keeping parameter names readable", async () => {
    const audit = broker();
    const mem = memoryDevice(saltA);
    await audit.enable("mem", mem.device);
    const h = (value: string) => hashValue(saltA, value);
    const failed: AuditRequest = {
      ...request,
      request: { ...request.request, data: { role: "payments-admin", token_policies: ["root"] } },
      error: 'role "payments-admin" does not exist; field "token_policies" must not contain "root"',
    };
    await audit.logRequest(failed);
    await audit.logResponse(failed);
    const expected = `role "${h("payments-admin")}" does not exist; field "token_policies" must not contain "${h("root")}"`;
    expect(mem.lines.map((l) => l.error)).toEqual([expected, expected]);
    expect(JSON.stringify(mem.lines)).not.toContain("payments-admin");
  });

  it("hashes with each device's own salt", async () => {
    const audit = broker();
    const a = memoryDevice(saltA);
    const b = memoryDevice(saltB);
    await audit.enable("a", a.device);
    await audit.enable("b/", b.device);
    await audit.logRequest(request);
    const password = (lines: AuditLine[]) => (lines[0].request.data as { data: { password: string } }).data.password;
    expect(password(a.lines)).toBe(hashValue(saltA, SECRET));
    expect(password(b.lines)).toBe(hashValue(saltB, SECRET));
    expect(password(a.lines)).not.toBe(password(b.lines));
    expect(audit.hash("a", SECRET)).not.toBe(audit.hash("b", SECRET));
  });

  it("fails the entry when every device fails, without data in the message", async () => {
    const logger = recordingLogger();
    const audit = broker({ logger });
    await audit.enable("x", memoryDevice(saltA, true).device);
    await audit.enable("y", memoryDevice(saltB, true).device);
    const err: unknown = await audit.logRequest(request).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LatchkeyError);
    expect(err).toMatchObject({ status: 500, message: "audit log failure: no audit device could write the entry" });
    expect(logger.records.filter((r) => r.level === "warn")).toHaveLength(2);
    expect(JSON.stringify(logger.records)).not.toContain(SECRET);
  });

  it("succeeds and warns when one of several devices fails", async () => {
    const logger = recordingLogger();
    const audit = broker({ logger });
    const good = memoryDevice(saltA);
    await audit.enable("good", good.device);
    await audit.enable("bad", memoryDevice(saltB, true).device);
    await audit.logResponse(response);
    expect(good.lines).toHaveLength(1);
    expect(logger.records).toEqual([
      {
        level: "warn",
        obj: { path: "bad/", err: "ENOSPC: no space left on device, write" },
        msg: "audit device failed to write an entry",
      },
    ]);
  });

  it("stops writing to a disabled device", async () => {
    const filePath = join(dir, "audit.log");
    const audit = broker();
    await audit.enable("file", createFileAuditDevice({ path: filePath, salt: saltA }));
    await audit.logRequest(request);
    expect(await audit.disable("file/")).toBe(true);
    expect(await audit.disable("file/")).toBe(false);
    await audit.logRequest(request);
    expect((await readFile(filePath, "utf8")).trimEnd().split("\n")).toHaveLength(1);
    expect(audit.list()).toEqual([]);
  });

  it("lists devices by path without their salts and refuses a path in use", async () => {
    const audit = broker();
    await audit.enable("file", createFileAuditDevice({ path: join(dir, "a.log"), salt: saltA, description: "main log" }));
    await audit.enable("alt", memoryDevice(saltB).device);
    expect(audit.list()).toEqual([
      { path: "alt/", type: "memory", description: "", options: {} },
      { path: "file/", type: "file", description: "main log", options: { file_path: join(dir, "a.log"), mode: "0600" } },
    ]);
    await expect(audit.enable("file/", memoryDevice(saltA).device)).rejects.toThrow(
      'an audit device is already enabled at "file/"',
    );
    expect(() => audit.hash("nope", "x")).toThrow('no audit device enabled at "nope/"');
  });

  it("fails the enable when the destination cannot be opened", async () => {
    const audit = broker();
    const device = createFileAuditDevice({ path: join(dir, "missing-dir", "audit.log"), salt: saltA });
    await expect(audit.enable("file", device)).rejects.toThrow(/ENOENT/);
    expect(audit.list()).toEqual([]);
  });
});
