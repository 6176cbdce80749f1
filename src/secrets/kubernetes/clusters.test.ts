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
