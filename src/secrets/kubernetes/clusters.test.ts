import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import type { KubeClientConfig } from "../../kube/client.js";
import { createTargetClients, gatewayToken, type PooledClient } from "./clusters.js";
import { CA_PATH, CERT, gatewayJwt, HOST, KEY, TOKEN_PATH } from "./test-harness.js";
import type { Target } from "./types.js";

const files = { tokenPath: TOKEN_PATH, caPath: CA_PATH };
const target = (t: Partial<Target>): Target => ({
  kubernetesHost: HOST,
  kubernetesCaCert: "",
  credential: "service_account_jwt",
  serviceAccountJwt: "jwt",
  clientCert: "",
  clientKey: "",
  ...t,
});

function recorder() {
  const built: KubeClientConfig[] = [];
  let closed = 0;
  const unused = () => Promise.reject(new Error("not called in these tests"));
  const createClient = (config: KubeClientConfig): PooledClient => {
    built.push(config);
    return { host: config.host, get: unused, create: unused, delete: unused, createTokenRequest: unused, getNamespace: unused, close: async () => void closed++ };
  };
  return { built, createClient, closed: () => closed };
}

describe("target clients", () => {
  it("builds one client per target, and a new one when the target changes", async () => {
    const r = recorder();
    const clients = createTargetClients({ files, createClient: r.createClient, read: async () => "" });
    const a = await clients.clientFor("a", target({}));
    expect(await clients.clientFor("a", target({}))).toBe(a);
    await clients.clientFor("a", target({ serviceAccountJwt: "other" }));
    expect(r.built.map((c) => c.token)).toEqual(["jwt", "other"]);
    expect(r.closed()).toBe(1);
    await clients.closeAll();
    expect(r.closed()).toBe(2);
  });

  it("keeps one keep-alive connection to a target across issues, each with the target read afresh from storage", async () => {
    let connections = 0;
    const server = createServer((_req, res) => {
      res.writeHead(201, { "content-type": "application/json" });
      res.end(JSON.stringify({ metadata: { name: "x", uid: "u" } }));
    });
    server.on("connection", () => connections++);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const stored = JSON.stringify(target({ kubernetesHost: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }));
    const clients = createTargetClients({ files, read: async () => "" });
    const issue = async () => {
      const api = await clients.clientFor("", JSON.parse(stored) as Target);
      await api.create("/api/v1/namespaces/team-a/secrets", {});
    };
    try {
      // undici may open a second connection while the first is being released.
      for (let i = 0; i < 3; i++) await issue();
      const warm = connections;
      for (let i = 0; i < 10; i++) await issue();
      expect(warm).toBeLessThanOrEqual(2);
      expect(connections).toBe(warm);
    } finally {
      await clients.closeAll();
      await new Promise((r) => server.close(r));
    }
  });

  it("passes a client certificate, and in gateway mode the pod's CA and a token read for every call", async () => {
    const r = recorder();
    const disk: Record<string, string> = { [TOKEN_PATH]: gatewayJwt(4_000_000_000), [CA_PATH]: CERT };
    const read = async (path: string) => disk[path];
    const clients = createTargetClients({ files, createClient: r.createClient, read });
    await clients.clientFor("cert", target({ credential: "client_certificate", serviceAccountJwt: "", clientCert: CERT, clientKey: KEY }));
    expect(r.built[0]).toMatchObject({ clientCertPem: CERT, clientKeyPem: KEY });
    expect(r.built[0].token).toBeUndefined();
    await clients.clientFor("gw", target({ credential: "gateway_service_account", serviceAccountJwt: "" }));
    const gw = r.built[1];
    expect(gw.caPem).toBe(CERT.trim());
    expect(await gw.tokenProvider?.()).toBe(disk[TOKEN_PATH]);
    disk[TOKEN_PATH] = gatewayJwt(4_100_000_000);
    expect(await gw.tokenProvider?.()).toBe(disk[TOKEN_PATH]);
  });

  it("refuses to send a gateway token that is missing or has expired", async () => {
    await expect(gatewayToken(files, async () => "")).rejects.toThrow(`the server has no service-account token at ${TOKEN_PATH}`);
    await expect(gatewayToken(files, async () => gatewayJwt(1000))).rejects.toThrow(`the server's service-account token at ${TOKEN_PATH} has expired`);
    await expect(gatewayToken(files, async () => "opaque-token")).resolves.toBe("opaque-token");
  });
});
