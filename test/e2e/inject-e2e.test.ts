/**
 * The injector end to end: the real kube-apiserver calls the injector for an
 * annotated pod, and the containers it injected run as the stored pod spec
 * describes them — the packaged agent in a chroot holding only /latchkey/bin/
 * and the pod's volumes, with a token bound to that pod, against a running
 * latchkey server whose kubernetes auth method asks the same API server.
 */
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningInjector } from "../../src/injector/run.js";
import { INJECTOR_LABEL, kubernetesAuthServer, webhookInjector } from "../helpers/injection.js";
import { adminClient, cleanup, createServiceAccount, eventually, kubeTestEnv, kubectl, tokenRequest, uniqueName, uniqueNamespace } from "../helpers/k8s.js";
import { api, type ServerProcess } from "../helpers/process.js";
import { REPO } from "./package-chroot.js";
import { runContainer, startContainer, volumeBinds, type Bind, type StoredContainer } from "./pod-chroot.js";

const ROOT = "lks.inject-e2e-root";
const PASSWORD = "pw-5e81c0d9a3f7";
const ROTATED = "pw-rotated-0b6d2c94e1a8";

interface StoredPod {
  metadata: { name: string; uid: string; annotations?: Record<string, string> };
  spec: {
    containers: StoredContainer[];
    initContainers?: StoredContainer[];
    volumes?: { name: string; projected?: { sources: { serviceAccountToken?: { audience?: string; path: string } }[] } }[];
  };
}

describe("injected pods run as their stored spec describes", () => {
  let ns: string;
  let server: ServerProcess;
  let injector: RunningInjector;
  let dir: string;
  /** The packaged /latchkey/bin/ of the agent image, built afresh from the sources under test. */
  let packagedBin: string;
  const selectorValue = uniqueName("inj-e2e");
  const tokens: string[] = [];

  const putSecret = async (data: Record<string, string>) => {
    const res = await api(server.address, "POST", "secret/data/app", ROOT, { data });
    expect(res.status, res.text).toBe(200);
  };

  beforeAll(async () => {
    const kube = kubeTestEnv();
    if (!kube.kubeconfig) throw new Error("the injector end-to-end test needs KUBECONFIG for the injector's own client");
    dir = mkdtempSync(join(tmpdir(), "latchkey-inject-e2e-"));
    // A build of its own (DIST_BIN), so that the package test rebuilding dist-bin/ meanwhile cannot disturb it.
    const packaged = spawnSync("npm", ["run", "package"], { cwd: REPO, env: { ...process.env, DIST_BIN: join(dir, "dist-bin") }, encoding: "utf8", timeout: 170_000 });
    expect(packaged.status, `npm run package failed:\n${packaged.stdout}${packaged.stderr}`).toBe(0);
    packagedBin = join(dir, "dist-bin/rootfs/latchkey/bin");
    ns = await uniqueNamespace({ [INJECTOR_LABEL]: selectorValue });
    await createServiceAccount(ns, "app");
    const started = await kubernetesAuthServer(ns, ROOT);
    server = started.server;
    tokens.push(started.reviewerJwt);
    await putSecret({ password: PASSWORD, user: "svc" });
    // The agents run on this host without a network namespace, so loopback reaches the server.
    injector = await webhookInjector({ selectorValue, latchkeyAddr: server.address, agentImage: "latchkey/latchkey:e2e" });
    // Pods are admitted once the service account's token exists.
    await eventually("the app service account's token", async () => {
      const sa = await adminClient().get<{ secrets?: unknown[] }>(`/api/v1/namespaces/${ns}/serviceaccounts/app`);
      return (sa.secrets ?? []).length > 0;
    }, 60_000);
  }, 240_000);

  afterAll(async () => {
    await injector?.close();
    await server?.stop();
    await cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Creates the pod through kubectl (so the API server calls the webhook) and reads back what etcd stores. */
  async function applyPod(name: string, annotations: Record<string, string>, app: Record<string, unknown>): Promise<StoredPod> {
    const manifest = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name, namespace: ns, labels: { "latchkey.io/inject": "true" }, annotations: { "latchkey.io/role": "app", ...annotations } },
      spec: { serviceAccountName: "app", containers: [{ name: "app", image: "app:1", ...app }] },
    };
    await kubectl(["apply", "-f", "-"], { input: JSON.stringify(manifest) });
    return adminClient().get<StoredPod>(`/api/v1/namespaces/${ns}/pods/${name}`);
  }

  /**
   * Host directories standing in for the pod's volumes; the token volume holds a
   * token bound to this pod, with the audience its projection asks for, if any.
   */
  async function podVolumes(pod: StoredPod, tokenFile: string): Promise<Record<string, string>> {
    const volumes: Record<string, string> = {};
    for (const v of pod.spec.volumes ?? []) {
      volumes[v.name] = join(dir, pod.metadata.name, "volumes", v.name);
      mkdirSync(volumes[v.name]!, { recursive: true });
    }
    const agent = [...(pod.spec.initContainers ?? []), ...pod.spec.containers].find((c) => c.name.startsWith("latchkey-") && c.name !== "latchkey-copy");
    const args = agent?.args ?? pod.spec.containers[0]?.command ?? [];
    expect(args[args.indexOf("--token-file") + 1]).toBe(tokenFile);
    const mount = [...(agent?.volumeMounts ?? []), ...(pod.spec.containers[0]?.volumeMounts ?? [])].find((m) => tokenFile.startsWith(`${m.mountPath}/`));
    if (!mount) throw new Error(`no volumeMount holds the token file ${tokenFile}`);
    const projection = pod.spec.volumes?.find((v) => v.name === mount.name)?.projected?.sources.find((s) => s.serviceAccountToken)?.serviceAccountToken;
    const jwt = (await tokenRequest(ns, "app", {
      pod: { name: pod.metadata.name, uid: pod.metadata.uid },
      ...(projection?.audience ? { audiences: [projection.audience] } : {}),
    })).token;
    tokens.push(jwt);
    const hostFile = join(volumes[mount.name]!, tokenFile.slice(mount.mountPath.length + 1));
    mkdirSync(dirname(hostFile), { recursive: true });
    writeFileSync(hostFile, jwt, { mode: 0o600 });
    return volumes;
  }

  const expectClean = (text: string) => {
    for (const secret of [PASSWORD, ROTATED, ROOT, ...tokens]) expect(text.includes(secret), "a secret or token reached the output").toBe(false);
  };
  const container = (pod: StoredPod, name: string): StoredContainer => {
    const found = [...(pod.spec.initContainers ?? []), ...pod.spec.containers].find((c) => c.name === name);
    if (!found) throw new Error(`the stored pod has no container ${name}`);
    return found;
  };

  it("init mode: the copy and init containers run from the packaged bin alone, and agent exec hands the app the resolved value", async () => {
    const script = 'printf %s "$DB_PASSWORD" | sha256sum > /latchkey/secrets-out/app.sha256; echo "$PLAIN" >> /latchkey/secrets-out/app.sha256';
    const pod = await applyPod(
      "init-pod",
      {
        "latchkey.io/inject-secret-app": "secret/data/app",
        "latchkey.io/inject-secret-conf": "secret/data/app",
        "latchkey.io/inject-template-conf": "user={{ .data.user }}\n{{- \" \" -}}\npassword={{ .data.password }}\n",
        "latchkey.io/inject-perms-conf": "0600",
      },
      {
        command: ["/bin/sh", "-c", script],
        env: [
          { name: "DB_PASSWORD", value: "latchkey:secret/data/app#password" },
          { name: "PLAIN", value: "kept" },
          { name: "PATH", value: "/usr/bin:/bin" },
        ],
      },
    );
    // What etcd stores: injected, and never a secret value.
    expect(pod.metadata.annotations?.["latchkey.io/status"]).toBe("injected");
    expect(pod.spec.initContainers?.map((c) => c.name)).toEqual(["latchkey-copy", "latchkey-init"]);
    expectClean(JSON.stringify(pod));
    expectClean(await kubectl(["-n", ns, "get", "pod", "init-pod", "-o", "yaml"]));

    const copy = container(pod, "latchkey-copy");
    const init = container(pod, "latchkey-init");
    const app = container(pod, "app");
    const tokenFile = init.args![init.args!.indexOf("--token-file") + 1]!;
    const volumes = await podVolumes(pod, tokenFile);

    // The agent's root: the packaged /latchkey/bin/ and nothing else (no Node.js, no shell).
    const agentRoot = join(dir, "agent-root");
    cpSync(packagedBin, join(agentRoot, "latchkey/bin"), { recursive: true });
    expect(readdirSync(agentRoot)).toEqual(["latchkey"]);
    expect(existsSync(join(agentRoot, "bin")) || existsSync(join(agentRoot, "usr"))).toBe(false);

    const copied = runContainer(agentRoot, copy, volumeBinds(copy, volumes));
    expect(copied.stderr).toBe("");
    expect(copied.status).toBe(0);
    const binVolume = volumes["latchkey-bin"]!;
    expect(statSync(join(binVolume, "latchkey")).mode & 0o111).toBe(0o111);
    expect(existsSync(join(binVolume, "lib/ld-linux-x86-64.so.2"))).toBe(true);

    const rendered = runContainer(agentRoot, init, volumeBinds(init, volumes));
    expectClean(rendered.stdout + rendered.stderr);
    expect(rendered.status, rendered.stderr).toBe(0);
    const secretsVolume = volumes["latchkey-secrets"]!;
    expect(JSON.parse(readFileSync(join(secretsVolume, "app"), "utf8"))).toEqual({ password: PASSWORD, user: "svc" });
    expect(readFileSync(join(secretsVolume, "conf"), "utf8")).toBe(`user=svc password=${PASSWORD}\n`);
    expect(statSync(join(secretsVolume, "conf")).mode & 0o777).toBe(0o600);

    // The app's root: the host's /usr for the program itself, the agent only from the shared bin volume.
    const appRoot = join(dir, "app-root");
    mkdirSync(appRoot);
    // Relative links, resolved inside the chroot as on a merged-/usr host.
    for (const [link, target] of [["bin", "usr/bin"], ["lib", "usr/lib"], ["lib64", "usr/lib64"]] as const) symlinkSync(target, join(appRoot, link));
    const out = join(dir, "app-out");
    mkdirSync(out);
    const appBinds: Bind[] = [{ from: "/usr", to: "/usr", readOnly: true }, ...volumeBinds(app, volumes), { from: out, to: "/latchkey/secrets-out" }];
    expect(app.command?.slice(0, 3)).toEqual(["/latchkey/bin/latchkey", "agent", "exec"]);
    const ran = runContainer(appRoot, app, appBinds);
    expectClean(ran.stdout + ran.stderr);
    expect(ran.stderr).toBe("");
    expect(ran.status).toBe(0);
    const hash = createHash("sha256").update(PASSWORD).digest("hex");
    expect(readFileSync(join(out, "app.sha256"), "utf8")).toBe(`${hash}  -\nkept\n`);
  }, 120_000);

  it("fails closed: once its pod is deleted, the init container's bound token logs in no more, and nothing is rendered", async () => {
    const pod = await applyPod("gone-pod", { "latchkey.io/inject-secret-app": "secret/data/app" }, { command: ["/usr/bin/app"] });
    const init = container(pod, "latchkey-init");
    const volumes = await podVolumes(pod, init.args![init.args!.indexOf("--token-file") + 1]!);
    await kubectl(["-n", ns, "delete", "pod", "gone-pod", "--wait=true"]);
    const agentRoot = join(dir, "gone-root");
    cpSync(packagedBin, join(agentRoot, "latchkey/bin"), { recursive: true });
    const refused = runContainer(agentRoot, init, volumeBinds(init, volumes));
    expectClean(refused.stdout + refused.stderr);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/^latchkey agent: error logging in at auth\/kubernetes as role app: /);
    expect(readdirSync(volumes["latchkey-secrets"]!)).toEqual([]);
  }, 60_000);

  it("sidecar mode: the stored sidecar picks up a changed secret within one interval and runs its on-change action once", async () => {
    // The on-change target: an HTTP endpoint on loopback counting the POSTs (the agent's root has no shell to exec).
    const posts: string[] = [];
    const hook = createServer((req, res) => {
      let body = "";
      req.on("data", (d: Buffer) => (body += d.toString()));
      req.on("end", () => {
        posts.push(`${req.method} ${req.url} ${body}`);
        res.end();
      });
    });
    await new Promise<void>((resolve) => hook.listen(0, "127.0.0.1", resolve));
    const hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/reload`;
    const intervalS = 4;
    const pod = await applyPod(
      "sidecar-pod",
      {
        "latchkey.io/mode": "sidecar",
        "latchkey.io/inject-secret-pw": "secret/data/app",
        "latchkey.io/inject-template-pw": "{{ .data.password }}",
        "latchkey.io/refresh-interval": `${intervalS}s`,
        "latchkey.io/on-change": hookUrl,
      },
      { command: ["/usr/bin/app"] },
    );
    expectClean(JSON.stringify(pod));
    expect(pod.spec.containers.map((c) => c.name)).toEqual(["app", "latchkey-agent"]);
    const sidecar = container(pod, "latchkey-agent");
    const volumes = await podVolumes(pod, sidecar.args![sidecar.args!.indexOf("--token-file") + 1]!);
    const agentRoot = join(dir, "sidecar-root");
    cpSync(packagedBin, join(agentRoot, "latchkey/bin"), { recursive: true });
    const pw = join(volumes["latchkey-secrets"]!, "pw");
    const read = () => (existsSync(pw) ? readFileSync(pw, "utf8") : "");
    const running = startContainer(agentRoot, sidecar, volumeBinds(sidecar, volumes));
    const exited = new Promise<number | string | null>((resolve) => running.proc.once("exit", (code, sig) => resolve(code ?? sig)));
    try {
      await eventually("the first render", async () => read() === PASSWORD, 30_000);
      expect(posts).toEqual([]);
      await putSecret({ password: ROTATED, user: "svc" });
      const changedAt = Date.now();
      await eventually("the rotated value on disk", async () => read() === ROTATED, 30_000);
      const seconds = (Date.now() - changedAt) / 1000;
      console.log(`sidecar picked up the change after ${seconds.toFixed(1)} s (refresh interval ${intervalS} s)`);
      // One interval, plus room for polling and a loaded machine.
      expect(seconds).toBeLessThan(intervalS + 3);
      await eventually("the on-change POST", async () => posts.length > 0, 10_000);
      // Two more intervals with nothing changed: no second action.
      await new Promise((r) => setTimeout(r, 2 * intervalS * 1000));
      expect(posts).toHaveLength(1);
      expect(posts[0]).toMatch(/^POST \/reload /);
      expectClean(posts.join("\n"));
      running.proc.kill("SIGTERM");
      expect(await exited).toBe(0);
      expectClean(running.output());
    } finally {
      if (running.proc.exitCode === null && running.proc.signalCode === null) running.proc.kill("SIGKILL");
      hook.close();
      await putSecret({ password: PASSWORD, user: "svc" });
    }
  }, 120_000);

  it("sidecar mode with a signal: the stored spec shares the process namespace and SIGHUPs the app by its command's name, once", async () => {
    // The app: a copy of the host's sh under a name no other process on the machine has.
    const appName = uniqueName("lk-inject-app");
    const appBin = join(dir, appName);
    const hups = join(dir, "hups.log");
    copyFileSync("/bin/sh", appBin);
    const pod = await applyPod(
      "signal-pod",
      {
        "latchkey.io/mode": "sidecar",
        "latchkey.io/inject-secret-pw": "secret/data/app",
        "latchkey.io/inject-template-pw": "{{ .data.password }}",
        "latchkey.io/refresh-interval": "2s",
        "latchkey.io/on-change": "SIGHUP",
      },
      { command: [`/usr/local/bin/${appName}`] },
    );
    const stored = pod as StoredPod & { spec: { shareProcessNamespace?: boolean } };
    expect(stored.spec.shareProcessNamespace).toBe(true);
    const sidecar = container(pod, "latchkey-agent");
    expect(sidecar.args?.slice(sidecar.args.indexOf("--on-change"), sidecar.args.indexOf("--on-change") + 4)).toEqual(["--on-change", "SIGHUP", "--signal-process", appName]);
    const volumes = await podVolumes(pod, sidecar.args![sidecar.args!.indexOf("--token-file") + 1]!);
    const agentRoot = join(dir, "signal-root");
    cpSync(packagedBin, join(agentRoot, "latchkey/bin"), { recursive: true });
    const pw = join(volumes["latchkey-secrets"]!, "pw");
    const read = () => (existsSync(pw) ? readFileSync(pw, "utf8") : "");
    const app = spawn(appBin, ["-c", `trap 'echo hup >> ${hups}' HUP; while :; do sleep 0.2; done`], { stdio: "ignore" });
    // A shared process namespace: the agent sees the app's processes in /proc, as the kubelet would mount it.
    const running = startContainer(agentRoot, sidecar, [...volumeBinds(sidecar, volumes), { from: "/proc", to: "/proc", readOnly: true }]);
    try {
      await eventually("the first render", async () => read() === PASSWORD, 30_000);
      await putSecret({ password: ROTATED, user: "svc" });
      await eventually("the SIGHUP", async () => existsSync(hups), 30_000);
      await new Promise((r) => setTimeout(r, 5_000));
      expect(readFileSync(hups, "utf8")).toBe("hup\n");
      expectClean(running.output());
    } finally {
      running.proc.kill("SIGKILL");
      app.kill("SIGKILL");
      await putSecret({ password: PASSWORD, user: "svc" });
    }
  }, 120_000);
});
