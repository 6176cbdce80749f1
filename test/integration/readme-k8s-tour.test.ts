/**
 * The README's "Just-in-time Kubernetes credentials" section, run as written:
 * its `sh` blocks, in order, in one bash with `set -e -o pipefail`, against a
 * built dev server and the real API server and controller-manager. Only the
 * variables the section tells the reader to set are substituted; `latchkey`
 * on the PATH is the built CLI.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, kubectl, kubeTestEnv, reviewToken, uniqueName } from "../helpers/k8s.js";
import { api, BIN, freshHome, startServerProcess, type ServerProcess } from "../helpers/process.js";

const README = new URL("../../README.md", import.meta.url);
const START = "<!-- tour:k8s-credentials:start -->";
const END = "<!-- tour:k8s-credentials:end -->";
const ROOT = "lks.readme-k8s-tour-root";
/** What the section's first block asks the reader to set, and nothing else. */
const READER_SETS = ["LATCHKEY_ADDR", "LATCHKEY_TOKEN", "KUBECONFIG", "DEMO"];

/** The `sh` blocks between the section's markers. */
function tourBlocks(markdown: string): string[] {
  const start = markdown.indexOf(START);
  const end = markdown.indexOf(END);
  if (start < 0 || end < start) throw new Error(`README.md has no ${START} … ${END} section`);
  return [...markdown.slice(start, end).matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((m) => m[1]);
}

/** Single-quoted for bash. */
const quote = (value: string) => `'${value.replace(/'/g, `'\\''`)}'`;

const marker = (i: number) => `@@readme block ${i} done@@`;

describe("the README's Kubernetes credentials tour, against a real cluster", () => {
  let server: ServerProcess;
  let dir: string;
  let demo: string;
  let blocks: string[];
  const output: string[] = [];
  /** What came after the last block that finished. */
  let unfinished = "";
  let code: number | null;

  beforeAll(async () => {
    const kubeconfig = kubeTestEnv().kubeconfig;
    if (!kubeconfig) throw new Error("this suite needs KUBECONFIG: the tour's kubectl commands use the admin context");
    blocks = tourBlocks(readFileSync(README, "utf8"));
    dir = mkdtempSync(join(tmpdir(), "latchkey-readme-k8s-"));
    const bin = join(dir, "bin");
    mkdirSync(bin);
    writeFileSync(join(bin, "latchkey"), `#!/bin/sh\nexec ${quote(process.execPath)} ${quote(BIN)} "$@"\n`);
    chmodSync(join(bin, "latchkey"), 0o755);
    const work = join(dir, "work");
    mkdirSync(work);

    server = await startServerProcess(["--dev", "--dev-root-token", ROOT, "--listen", "127.0.0.1:0"]);
    demo = uniqueName("lk-tour");
    const values: Record<string, string> = { LATCHKEY_ADDR: server.address, LATCHKEY_TOKEN: ROOT, KUBECONFIG: kubeconfig, DEMO: demo };
    const set = blocks[0].split("\n").filter((line) => line.trim() !== "" && !line.trim().startsWith("#"));
    expect(set.map((line) => /^export ([A-Z_]+)=/.exec(line)?.[1]), "the first block only exports what the reader sets").toEqual(READER_SETS);
    const first = set.map((line) => {
      const name = /^export ([A-Z_]+)=/.exec(line)![1];
      return `export ${name}=${quote(values[name])}`;
    });
    const script = ["exec 2>&1", "set -e -o pipefail", ...[first.join("\n"), ...blocks.slice(1)].map((b, i) => `${b}\necho ${quote(marker(i))}`)].join("\n");
    const { KUBECONFIG: _admin, LATCHKEY_ADDR: _addr, LATCHKEY_TOKEN: _token, ...env } = process.env;
    const run = spawnSync("bash", ["-c", script], {
      cwd: work,
      env: { ...env, PATH: `${bin}:${process.env.PATH ?? ""}`, HOME: freshHome() },
      encoding: "utf8",
      timeout: 420_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    code = run.status;
    let rest = run.stdout ?? "";
    for (let i = 0; i < blocks.length; i++) {
      const at = rest.indexOf(marker(i));
      if (at < 0) break;
      output.push(rest.slice(0, at));
      rest = rest.slice(at + marker(i).length);
    }
    unfinished = rest;
  }, 480_000);

  afterAll(async () => {
    // A run that stopped half-way leaves its leases and objects: revoke, then remove what the tour made.
    if (server) {
      await api(server.address, "PUT", "sys/leases/revoke-prefix/kubernetes", ROOT).catch(() => undefined);
      await api(server.address, "PUT", "sys/leases/revoke-prefix/k8s-gw", ROOT).catch(() => undefined);
      await server.stop();
    }
    if (demo) {
      for (const args of [
        ["namespace", demo],
        ["clusterrolebinding", `${demo}-sa-request`, `${demo}-sa-request-user`],
        ["clusterrole", `${demo}-sa-request`, `${demo}-pod-reader`],
        ["csr", `${demo}-user`],
      ]) {
        await kubectl(["delete", "--ignore-not-found", "--wait=false", ...args]).catch(() => undefined);
      }
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** The block's output; every block must have run to its end. */
  const out = (i: number) => {
    expect(output[i], `block ${i} of the tour did not finish:\n${unfinished}`).toBeDefined();
    return output[i];
  };
  /** The ExecCredentials a block printed (pretty JSON objects starting at a line of their own). */
  const execCredentials = (text: string) =>
    [...text.matchAll(/^\{\n[\s\S]*?^\}$/gm)].map((m) => JSON.parse(m[0]) as Record<string, any>).filter((o) => o.kind === "ExecCredential");

  it("runs every command of the section with exit code 0", () => {
    expect(blocks.length).toBeGreaterThanOrEqual(10);
    expect(code, `the tour stopped after block ${output.length - 1}; its last output:\n${unfinished}`).toBe(0);
    expect(output).toHaveLength(blocks.length);
  });

  it("creates a bearer-token target that is read back without its token", () => {
    const text = out(2);
    expect(text).toContain(`Success! Created target ${demo} at kubernetes/targets/${demo}`);
    expect(text).toMatch(/service_account_jwt_set\s+true/);
    const token = readFileSync(join(dir, "work", "jit.token"), "utf8").trim();
    expect(token).toMatch(/^eyJ/);
    expect(output.join("")).not.toContain(token);
    expect(server.output()).not.toContain(token);
  });

  it("fixed mode prints an ExecCredential for the existing service account, refused once its lease is revoked", async () => {
    const [cred] = execCredentials(out(3));
    expect(cred).toMatchObject({ apiVersion: "client.authentication.k8s.io/v1beta1", status: { token: expect.stringMatching(/^eyJ/) } });
    expect(cred.status.expirationTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    // The last block revoked the lease and deleted its Secret; the API server's token cache holds ~10 s.
    await eventually("the revoked fixed-mode token is refused", async () => !(await reviewToken(cred.status.token)).authenticated, 60_000);
  }, 90_000);

  it("dynamic mode issues temporary service accounts in the allowed namespace", () => {
    const json = /^\{\n[\s\S]*?^\}$/m.exec(out(4));
    expect(JSON.parse(json?.[0] ?? "{}")).toMatchObject({
      service_account_name: expect.stringMatching(/^latchkey-jit-pods-/),
      service_account_namespace: demo,
      cluster_endpoint: kubeTestEnv().host,
    });
    expect(out(5)).toContain("Success! Created dynamic secret jit-yaml at kubernetes/roles/jit-yaml");
  });

  it("kubectl lists pods through the exec user of each generated kubeconfig and is refused secrets", () => {
    const text = out(6);
    expect(text.match(/^web\s+0\/1\s+Pending\s/gm)).toHaveLength(2);
    expect(text).toMatch(new RegExp(`User "system:serviceaccount:${demo}:latchkey-jit-pods-[a-z0-9]+" cannot list resource "secrets"`));
  });

  it("a client certificate signed through the CSR API is a working target", () => {
    const text = out(7);
    expect(text).toContain(`certificatesigningrequest.certificates.k8s.io/${demo}-user approved`);
    expect(text).toContain(`Success! Created certificate k8s/${demo}/certificates/${demo}-user`);
    expect(text).toContain(`Success! Created target ${demo}-cert at kubernetes/targets/${demo}-cert`);
    expect(execCredentials(text)).toHaveLength(1);
    expect(server.output()).not.toContain("PRIVATE KEY");
  });

  it("the gateway service-account target issues through the token file", () => {
    const text = out(8);
    expect(text).toContain("Success! Created target gw at k8s-gw/targets/gw");
    expect(execCredentials(text)).toHaveLength(1);
  });

  it("revocation leaves no latchkey-labelled object, and the clean-up removes the rest", async () => {
    const text = out(9);
    expect(text).toContain(`No resources found in ${demo} namespace.`);
    expect(text).toContain(`namespace "${demo}" deleted`);
    expect(await kubectl(["get", "clusterroles", "-o", "name"])).not.toContain(demo);
  });
});
