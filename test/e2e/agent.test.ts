/**
 * `latchkey agent` as a real child process against a built latchkey server
 * whose kubernetes auth method reviews tokens with the real API server: the
 * agent logs in with a pod-bound service-account token, renders files, keeps
 * them fresh as a sidecar, and `agent exec` resolves latchkey: environment
 * values. Nothing the agent prints carries a token or a secret value.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { kubernetesAuthServer } from "../helpers/injection.js";
import { cleanup, createPod, createServiceAccount, eventually, tokenRequest, uniqueName, uniqueNamespace } from "../helpers/k8s.js";
import { BIN, api, runCli, type CliResult, type ServerProcess } from "../helpers/process.js";

const ROOT = "lks.agent-e2e-root";
const PASSWORD = "pw-0f3c9a71e4b2";
const ROTATED = "pw-rotated-77d1e0c5";

describe("latchkey agent against a running server and the real API server", () => {
  let server: ServerProcess;
  let dir: string;
  let tokenFile: string;
  let podJwt: string;
  const secretsSeen = () => [PASSWORD, ROTATED, podJwt, ROOT];
  const expectClean = (text: string) => {
    for (const secret of secretsSeen()) expect(text.includes(secret), "a secret or token reached the agent's output").toBe(false);
  };
  const login = () => ["--addr", server.address, "--role", "app", "--token-file", tokenFile];
  const agent = (args: string[], env: Record<string, string> = {}): CliResult => {
    const result = runCli(["agent", ...args], env);
    expectClean(result.stdout + result.stderr);
    return result;
  };
  const putSecret = async (data: Record<string, string>) => {
    const res = await api(server.address, "POST", "secret/data/app", ROOT, { data });
    expect(res.status, res.text).toBe(200);
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "latchkey-agent-e2e-"));
    const ns = await uniqueNamespace({ "latchkey.test/suite": "agent" });
    await createServiceAccount(ns, "app");
    const pod = await createPod(ns, "app-0", "app");
    podJwt = (await tokenRequest(ns, "app", { pod: { name: pod.name, uid: pod.uid } })).token;
    tokenFile = join(dir, "token");
    writeFileSync(tokenFile, podJwt, { mode: 0o600 });

    ({ server } = await kubernetesAuthServer(ns, ROOT));
    await putSecret({ password: PASSWORD, user: "svc" });
  }, 120_000);

  afterAll(async () => {
    await server?.stop();
    await cleanup();
  });

  it("init renders the JSON file and a template, with the modes asked for, writes the ready file and exits 0", () => {
    const secrets = join(dir, "init");
    const ready = join(dir, "init-ready");
    const result = agent([
      "--mode", "init", ...login(), "--secrets-dir", secrets,
      "--secret", "app=secret/data/app", "--secret", "pw=secret/data/app",
      "--template", "pw=user={{ .data.user }}\n{{- \" \" -}}\npassword={{ .data.password }}",
      "--file", `pw=${join(dir, "conf", "pw.conf")}`, "--perms", "pw=0600", "--ready-file", ready,
    ]);
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(secrets, "app"), "utf8"))).toEqual({ password: PASSWORD, user: "svc" });
    expect(statSync(join(secrets, "app")).mode & 0o777).toBe(0o640);
    expect(readFileSync(join(dir, "conf", "pw.conf"), "utf8")).toBe(`user=svc password=${PASSWORD}`);
    expect(statSync(join(dir, "conf", "pw.conf")).mode & 0o777).toBe(0o600);
    expect(existsSync(ready)).toBe(true);
    expect(runCli(["agent", "ready", "--file", ready]).code).toBe(0);
    expect(runCli(["agent", "ready", "--file", join(dir, "nothing")]).code).toBe(1);
  });

  it("init names the failing step and exits non-zero: login refused, secret forbidden, unknown field, server unreachable", () => {
    const refused = agent(["--mode", "init", "--addr", server.address, "--role", "nobody", "--token-file", tokenFile, "--secrets-dir", join(dir, "x"), "--secret", "a=secret/data/app"]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^latchkey agent: error logging in at auth\/kubernetes as role nobody: /);
    const forbidden = agent(["--mode", "init", ...login(), "--secrets-dir", join(dir, "x"), "--secret", "a=secret/data/other"]);
    expect(forbidden.code).toBe(1);
    expect(forbidden.stderr).toContain("error reading secret/data/other: forbidden");
    const badField = agent(["--mode", "init", ...login(), "--secrets-dir", join(dir, "x"), "--secret", "a=secret/data/app", "--template", "a={{ .data.nope }}"]);
    expect(badField.code).toBe(1);
    expect(badField.stderr).toContain("error rendering the template of a: template field .data.nope does not exist in the secret's data");
    expect(existsSync(join(dir, "x", "a"))).toBe(false);
    const unreachable = agent(["--mode", "init", "--addr", "http://127.0.0.1:9", "--role", "app", "--token-file", tokenFile, "--secrets-dir", join(dir, "x"), "--secret", "a=secret/data/app"]);
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toContain("error logging in at auth/kubernetes as role app: could not connect to latchkey at http://127.0.0.1:9");
  }, 60_000);

  it("a sidecar picks up a changed secret within one interval, runs exec: and SIGHUP once each, and stops on SIGTERM", async () => {
    const secrets = join(dir, "sidecar");
    const changes = join(dir, "changes.log");
    const hups = join(dir, "hups.log");
    const onChange = join(dir, "on-change.sh");
    writeFileSync(onChange, `echo changed >> ${changes}\n`);
    // A stand-in app process that counts SIGHUPs; found through /proc by its executable's base name,
    // which is unique so that no other process on the machine is signalled.
    const appName = uniqueName("lk-agent-app");
    copyFileSync("/bin/sh", join(dir, appName));
    const app = spawn(join(dir, appName), ["-c", `trap 'echo hup >> ${hups}' HUP; while :; do sleep 0.2; done`], { stdio: "ignore" });
    let sidecar: ChildProcess | undefined;
    let output = "";
    try {
      sidecar = spawn(process.execPath, [BIN, "agent", "--mode", "sidecar", ...login(), "--secrets-dir", secrets,
        "--secret", "app=secret/data/app", "--template", "app={{ .data.password }}", "--refresh-interval", "2s",
        "--on-change", `exec:sh ${onChange}`, "--ready-file", join(secrets, ".ready")], { stdio: ["ignore", "pipe", "pipe"] });
      sidecar.stdout!.on("data", (d: Buffer) => (output += d.toString()));
      sidecar.stderr!.on("data", (d: Buffer) => (output += d.toString()));
      await eventually("the first render", async () => existsSync(join(secrets, ".ready")), 30_000);
      expect(readFileSync(join(secrets, "app"), "utf8")).toBe(PASSWORD);
      await putSecret({ password: ROTATED, user: "svc" });
      await eventually("the rotated value on disk", async () => readFileSync(join(secrets, "app"), "utf8") === ROTATED, 30_000);
      await eventually("the on-change command", async () => existsSync(changes), 10_000);
      // Two more intervals with nothing changed: no more runs.
      await new Promise((r) => setTimeout(r, 5_000));
      expect(readFileSync(changes, "utf8")).toBe("changed\n");
      // Idle footprint between refreshes, reported; idle CPU must stay near 0 (a 2 s refresh is busier than a real 5m one).
      const cpuTicks = () => readFileSync(`/proc/${sidecar!.pid}/stat`, "utf8").split(") ")[1]!.split(" ").slice(11, 13).reduce((a, b) => a + Number(b), 0);
      const before = cpuTicks();
      await new Promise((r) => setTimeout(r, 6_000));
      const cpuPercent = (cpuTicks() - before) / 6;
      const rssKiB = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${sidecar.pid}/status`, "utf8"))?.[1]);
      console.log(`sidecar idle: RSS ${(rssKiB / 1024).toFixed(1)} MiB, CPU ${cpuPercent.toFixed(2)}% over 6 s with a 2 s refresh`);
      expect(cpuPercent).toBeLessThan(5);
      expect(readFileSync(changes, "utf8")).toBe("changed\n");
      const exited = new Promise<number | null>((resolve) => sidecar!.once("exit", (code) => resolve(code)));
      sidecar.kill("SIGTERM");
      expect(await exited).toBe(0);
      expectClean(output);
    } finally {
      if (sidecar && sidecar.exitCode === null) sidecar.kill("SIGKILL");
    }
    // The signal action, against the counting process.
    try {
      await putSecret({ password: PASSWORD, user: "svc" });
      const sig = spawn(process.execPath, [BIN, "agent", "--mode", "sidecar", ...login(), "--secrets-dir", secrets,
        "--secret", "app=secret/data/app", "--template", "app={{ .data.password }}", "--refresh-interval", "2s",
        "--on-change", "SIGHUP", "--signal-process", appName], { stdio: "ignore" });
      try {
        // The file still holds ROTATED: the first render rewrites it but runs no action; a change afterwards does.
        await eventually("the first render", async () => readFileSync(join(secrets, "app"), "utf8") === PASSWORD, 30_000);
        await putSecret({ password: ROTATED, user: "svc" });
        await eventually("the SIGHUP", async () => existsSync(hups), 30_000);
        await new Promise((r) => setTimeout(r, 5_000));
        expect(readFileSync(hups, "utf8")).toBe("hup\n");
      } finally {
        sig.kill("SIGTERM");
      }
    } finally {
      app.kill("SIGKILL");
    }
  }, 120_000);

  it("agent exec gives the program the resolved value and prints none itself", () => {
    const hash = createHash("sha256").update(PASSWORD).digest("hex");
    return putSecret({ password: PASSWORD, user: "svc" }).then(() => {
      const result = agent(
        ["exec", ...login(), "--", process.execPath, "-e", "process.stdout.write(require('crypto').createHash('sha256').update(process.env.DB_PASSWORD).digest('hex') + ' ' + process.env.PLAIN); process.exit(3)"],
        { DB_PASSWORD: "latchkey:secret/data/app#password", PLAIN: "kept" },
      );
      expect(result.stderr).toBe("");
      expect(result.stdout).toBe(`${hash} kept`);
      expect(result.code).toBe(3);
      const missing = agent(["exec", ...login(), "--", "true"], { DB_PASSWORD: "latchkey:secret/data/app#nokey" });
      expect(missing.code).toBe(1);
      expect(missing.stderr).toBe("latchkey agent: error resolving DB_PASSWORD: secret/data/app has no key nokey\n");
    });
  }, 60_000);
});
