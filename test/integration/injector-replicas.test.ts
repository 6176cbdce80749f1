/**
 * Two `latchkey injector --tls-auto --tls-secret-name` processes behind the
 * real kube-apiserver: one MutatingWebhookConfiguration with a webhook per
 * replica, so every pod create is reviewed by both. They share one CA through
 * the Secret, only the Lease holder renews it, no pod is rejected or left
 * unmutated through renewals, and when the leader is killed the other takes
 * the Lease and renews from then on.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { connect } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { INJECTOR_LABEL } from "../helpers/injection.js";
import { adminClient, cleanup, eventually, kubeTestEnv, uniqueName, uniqueNamespace } from "../helpers/k8s.js";
import { BIN } from "../helpers/process.js";
import { registerWebhook, WEBHOOKS } from "../helpers/webhook.js";

const SECRET = "latchkey-injector-tls";

interface Replica {
  name: string;
  proc: ChildProcess;
  port: number;
  output(): string;
}
interface SecretObject {
  data?: Record<string, string>;
}
interface Snapshot {
  cert: string;
  key: string;
  ca: string;
  next: string;
}

const unb64 = (text = ""): string => Buffer.from(text, "base64").toString("utf8");

describe("latchkey injector: two replicas sharing --tls-auto through a Secret and a Lease", () => {
  let ns: string;
  let injectorNs: string;
  let configName: string;
  const replicas: Replica[] = [];
  const selectorValue = uniqueName("inj-ha");

  async function startReplica(name: string): Promise<Replica> {
    const { kubeconfig } = kubeTestEnv();
    if (!kubeconfig) throw new Error("the injector replica test needs KUBECONFIG for the injectors' own client");
    const proc = spawn(process.execPath, [
      BIN, "injector",
      "--listen", "127.0.0.1:0",
      "--latchkey-addr", "https://latchkey.latchkey.svc:8200",
      "--agent-image", "latchkey/latchkey:test",
      "--tls-auto", "--webhook-config-name", configName, "--tls-hosts", "127.0.0.1",
      "--tls-validity", "30s",
      "--tls-secret-name", SECRET,
      "--leader-lease-duration", "4s",
      "--namespace", injectorNs,
      "--kubeconfig", kubeconfig,
      "--native-sidecars", "off",
      "--reconcile-interval", "0",
    ], { env: { ...process.env, HOSTNAME: name }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    proc.stdout?.on("data", (d: Buffer) => (out += d.toString()));
    proc.stderr?.on("data", (d: Buffer) => (out += d.toString()));
    let port = 0;
    await eventually(`${name} listening`, async () => {
      if (proc.exitCode !== null) throw new Error(`${name} exited ${proc.exitCode}:\n${out}`);
      port = Number(/"port":(\d+)/.exec(out)?.[1] ?? 0);
      return port > 0;
    }, 90_000);
    const replica = { name, proc, port, output: () => out };
    replicas.push(replica);
    return replica;
  }

  const secret = async (): Promise<Snapshot> => {
    const s = await adminClient().get<SecretObject>(`/api/v1/namespaces/${injectorNs}/secrets/${SECRET}`);
    return { cert: unb64(s.data?.["tls.crt"]), key: unb64(s.data?.["tls.key"]), ca: unb64(s.data?.["ca.crt"]), next: unb64(s.data?.["next-ca.crt"]) };
  };
  const leaseHolder = async (): Promise<string> => {
    const lease = await adminClient().get<{ spec?: { holderIdentity?: string } }>(`/apis/coordination.k8s.io/v1/namespaces/${injectorNs}/leases/${SECRET}`);
    return lease.spec?.holderIdentity ?? "";
  };
  const caBundles = async (): Promise<string[]> => {
    const config = await adminClient().get<{ webhooks: { clientConfig: { caBundle?: string } }[] }>(`${WEBHOOKS}/${configName}`);
    return config.webhooks.map((w) => unb64(w.clientConfig.caBundle));
  };
  const pointWebhooksAt = (ports: number[]) =>
    adminClient().request("PATCH", `${WEBHOOKS}/${configName}`,
      ports.map((port, i) => ({ op: "replace", path: `/webhooks/${i}/clientConfig/url`, value: `https://127.0.0.1:${port}/mutate` })),
      { contentType: "application/json-patch+json" });

  /** The certificate a replica serves now, verified against `bundle` (rejects when it does not verify). */
  const served = (port: number, bundle: string): Promise<string> =>
    new Promise((resolve, reject) => {
      const socket = connect({ host: "127.0.0.1", port, ca: bundle, rejectUnauthorized: true }, () => {
        const raw = socket.getPeerX509Certificate();
        socket.end();
        resolve(raw ? raw.toString() : "");
      });
      socket.once("error", reject);
    });

  /** Creates opted-in pods until `until` holds (and at least `min`), recording every rejection or unmutated pod. */
  async function createPodsUntil(prefix: string, until: () => Promise<boolean>, min = 6): Promise<{ created: number; failures: string[] }> {
    const failures: string[] = [];
    let created = 0;
    let done = false;
    const watcher = (async () => {
      while (!(await until())) await new Promise((r) => setTimeout(r, 500));
      done = true;
    })();
    for (let i = 0; !done || i < min; i++) {
      const name = `${prefix}-${i}`;
      const pod = {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name, labels: { "latchkey.io/inject": "true" }, annotations: { "latchkey.io/role": "app", "latchkey.io/inject-secret-db": "secret/data/db" } },
        spec: { containers: [{ name: "app", image: "app:1", command: ["/usr/bin/app"] }] },
      };
      const res = await adminClient()
        .create<{ metadata: { annotations?: Record<string, string> } }>(`/api/v1/namespaces/${ns}/pods`, pod)
        .catch((err: Error) => {
          failures.push(`${name}: ${err.message}`);
          return undefined;
        });
      created++;
      if (res && res.metadata.annotations?.["latchkey.io/status"] !== "injected") failures.push(`${name}: not injected`);
    }
    await watcher;
    return { created, failures };
  }

  /** Snapshots of the Secret, polled: each CA must follow from the one before (never an unrelated one). */
  const history: Snapshot[] = [];
  let polling = true;
  let poller: Promise<void> | undefined;

  beforeAll(async () => {
    ns = await uniqueNamespace({ [INJECTOR_LABEL]: selectorValue });
    injectorNs = await uniqueNamespace();
    configName = uniqueName("latchkey-injector-ha");
    await registerWebhook(configName, { label: INJECTOR_LABEL, value: selectorValue }, { webhookNames: ["inject-a.latchkey.io", "inject-b.latchkey.io"] });
    await startReplica("replica-a");
    await startReplica("replica-b");
    await pointWebhooksAt(replicas.map((r) => r.port));
    poller = (async () => {
      while (polling) {
        const snap = await secret().catch(() => undefined);
        if (snap && snap.cert !== history.at(-1)?.cert) history.push(snap);
        await new Promise((r) => setTimeout(r, 300));
      }
    })();
    await eventually("default service account", async () => {
      const sa = await adminClient().get(`/api/v1/namespaces/${ns}/serviceaccounts/default`).catch(() => undefined);
      return sa !== undefined;
    }, 60_000);
  }, 180_000);

  afterAll(async () => {
    polling = false;
    await poller;
    for (const r of replicas) if (r.proc.exitCode === null && r.proc.signalCode === null) r.proc.kill("SIGTERM");
    await cleanup();
  });

  it("both replicas serve the Secret's certificate, which verifies against the webhook's caBundle", async () => {
    const [bundle] = await caBundles();
    const current = await secret();
    expect(bundle).toContain(current.ca.trim());
    expect(bundle).toContain(current.next.trim());
    for (const r of replicas) {
      await eventually(`${r.name} serves the shared certificate`, async () => {
        const cert = await served(r.port, bundle ?? "");
        return new X509Certificate(cert).fingerprint256 === new X509Certificate(current.cert).fingerprint256;
      });
    }
    expect(await leaseHolder()).toMatch(/^replica-a_/);
  }, 60_000);

  it("rejects no pod and leaves none unmutated through two renewals by the leader", async () => {
    const start = history.length;
    const { created, failures } = await createPodsUntil("renew", async () => history.length >= start + 2);
    expect(failures).toEqual([]);
    expect(created).toBeGreaterThanOrEqual(6);
    const [bundle] = await caBundles();
    for (const r of replicas) await expect(served(r.port, bundle ?? "")).resolves.toContain("BEGIN CERTIFICATE");
  }, 150_000);

  it("after the leader is killed the other takes the Lease and renews, still admitting every pod", async () => {
    const [leader, survivor] = replicas as [Replica, Replica];
    leader.proc.kill("SIGKILL");
    await pointWebhooksAt([survivor.port, survivor.port]);
    await eventually("the survivor holds the Lease", async () => (await leaseHolder()).startsWith(`${survivor.name}_`), 30_000);
    const start = history.length;
    const { failures } = await createPodsUntil("takeover", async () => history.length >= start + 1);
    expect(failures).toEqual([]);
    expect(survivor.output()).toContain("renewed the webhook serving certificate");
    const [bundle] = await caBundles();
    await expect(served(survivor.port, bundle ?? "")).resolves.toContain("BEGIN CERTIFICATE");
  }, 150_000);

  it("never replaced the CA with an unrelated one, and no replica logged a private key", () => {
    expect(history.length).toBeGreaterThanOrEqual(4);
    for (let i = 1; i < history.length; i++) {
      const [before, after] = [history[i - 1] as Snapshot, history[i] as Snapshot];
      expect(after.ca === before.ca || after.ca === before.next, `renewal ${i} switched to a CA that was never the next one`).toBe(true);
    }
    const keyBodies = history.map((h) => h.key.split("\n")[1] ?? "").filter((line) => line.length > 20);
    expect(keyBodies.length).toBe(history.length);
    for (const r of replicas) {
      for (const body of keyBodies) expect(r.output().includes(body), "a serving key reached a replica's log").toBe(false);
      expect(r.output()).not.toContain("PRIVATE KEY");
      expect(r.output()).not.toContain("BEGIN CERTIFICATE");
    }
  });
});
