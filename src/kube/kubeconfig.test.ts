import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { loadKubeconfig } from "./kubeconfig.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function write(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "latchkey-kubeconfig-"));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

const b64 = (s: string) => Buffer.from(s).toString("base64");

describe("loadKubeconfig", () => {
  it("reads the current context with a CA file relative to the kubeconfig and an inline token", () => {
    const dir = write({
      "ca.crt": "CA PEM",
      config: `apiVersion: v1
kind: Config
current-context: test
clusters:
- name: c1
  cluster: { server: "https://127.0.0.1:6443", certificate-authority: ca.crt }
users:
- name: u1
  user: { token: admin-token }
contexts:
- name: test
  context: { cluster: c1, user: u1 }
`,
    });
    expect(loadKubeconfig(join(dir, "config"))).toEqual({
      host: "https://127.0.0.1:6443",
      caPem: "CA PEM",
      clientCertPem: undefined,
      clientKeyPem: undefined,
      token: "admin-token",
    });
  });

  it("reads inline data, client certificates and a named context", () => {
    const dir = write({
      config: `current-context: other
clusters:
- name: c1
  cluster: { server: "https://k8s.example:443/prefix", certificate-authority-data: ${b64("CA")} }
users:
- name: u1
  user: { client-certificate-data: ${b64("CERT")}, client-key-data: ${b64("KEY")} }
contexts:
- name: mine
  context: { cluster: c1, user: u1 }
`,
    });
    expect(loadKubeconfig(join(dir, "config"), "mine")).toEqual({
      host: "https://k8s.example:443/prefix",
      caPem: "CA",
      clientCertPem: "CERT",
      clientKeyPem: "KEY",
    });
  });

  it("re-reads a tokenFile on every call", () => {
    const dir = write({
      token: "first\n",
      config: `current-context: t
clusters: [{ name: c, cluster: { server: "https://127.0.0.1:1" } }]
users: [{ name: u, user: { tokenFile: token } }]
contexts: [{ name: t, context: { cluster: c, user: u } }]
`,
    });
    const config = loadKubeconfig(join(dir, "config"));
    expect(config.tokenProvider?.()).toBe("first\n");
    writeFileSync(join(dir, "token"), "second\n");
    expect(config.tokenProvider?.()).toBe("second\n");
  });

  it("refuses exec plugins and missing contexts with a clear message", () => {
    const dir = write({
      config: `current-context: t
clusters: [{ name: c, cluster: { server: "https://127.0.0.1:1" } }]
users: [{ name: u, user: { exec: { command: aws } } }]
contexts: [{ name: t, context: { cluster: c, user: u } }]
`,
    });
    const path = join(dir, "config");
    expect(() => loadKubeconfig(path)).toThrow(`kubeconfig ${path}: user u uses an exec/auth-provider plugin, which is not supported`);
    expect(() => loadKubeconfig(path, "nope")).toThrow(`kubeconfig ${path}: no context named nope`);
  });
});
