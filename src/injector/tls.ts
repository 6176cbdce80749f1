/**
 * The webhook's serving certificate: from files (re-read when they change) or
 * generated (`--tls-auto`: a CA and a serving certificate, renewed before
 * expiry, with the MutatingWebhookConfiguration's caBundle kept current).
 */
import { webcrypto } from "node:crypto";
import { readFileSync, unwatchFile, watchFile } from "node:fs";
import { isIP } from "node:net";
import * as x509 from "@peculiar/x509";
import type { KubeClient } from "../kube/client.js";

export interface ServingPair {
  cert: string;
  key: string;
}

/** Receives each new serving pair; the server swaps it in with `setSecureContext`, keeping open connections. */
export type OnPair = (pair: ServingPair) => void;

const ALGORITHM = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };

/** Reads the pair now and again whenever either file changes (polled: Secret volumes swap symlinks). */
export function watchPairFiles(certFile: string, keyFile: string, onPair: OnPair, onError: (err: Error) => void): { pair: ServingPair; stop(): void } {
  const read = (): ServingPair => ({ cert: readFileSync(certFile, "utf8"), key: readFileSync(keyFile, "utf8") });
  const pair = read();
  const reload = (): void => {
    try {
      onPair(read());
    } catch (err) {
      onError(new Error(`TLS files could not be reloaded; serving the previous certificate`, { cause: err }));
    }
  };
  watchFile(certFile, { interval: 1000 }, reload);
  watchFile(keyFile, { interval: 1000 }, reload);
  return {
    pair,
    stop() {
      unwatchFile(certFile, reload);
      unwatchFile(keyFile, reload);
    },
  };
}

export interface GeneratedPair extends ServingPair {
  caPem: string;
  notAfter: Date;
}

/** A fresh CA and a serving certificate it signs for `hosts` (DNS names or IP addresses). */
export async function generatePair(hosts: string[], validityMs: number, now = new Date()): Promise<GeneratedPair> {
  x509.cryptoProvider.set(webcrypto);
  const notBefore = new Date(now.getTime() - 60_000);
  const notAfter = new Date(now.getTime() + validityMs);
  const caKeys = await webcrypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]);
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    name: `CN=latchkey-injector-ca-${now.getTime()}`,
    keys: caKeys,
    signingAlgorithm: ALGORITHM,
    notBefore,
    // The CA outlives the serving certificate a little, so a bundle still holding it stays valid past renewal.
    notAfter: new Date(notAfter.getTime() + validityMs),
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    ],
  });
  const keys = await webcrypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]);
  const cert = await x509.X509CertificateGenerator.create({
    subject: `CN=${hosts[0] ?? "latchkey-injector"}`,
    issuer: ca.subject,
    publicKey: keys.publicKey,
    signingKey: caKeys.privateKey,
    signingAlgorithm: ALGORITHM,
    notBefore,
    notAfter,
    serialNumber: webcrypto.getRandomValues(new Uint8Array(8)).reduce((s, b) => s + b.toString(16).padStart(2, "0"), "01"),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(hosts.map((h) => (isIP(h) ? { type: "ip", value: h } : { type: "dns", value: h }))),
    ],
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey)).toString("base64");
  const key = `-----BEGIN PRIVATE KEY-----\n${pkcs8.replace(/.{64}/g, "$&\n")}\n-----END PRIVATE KEY-----\n`;
  return { cert: cert.toString("pem"), key, caPem: ca.toString("pem"), notAfter };
}

const WEBHOOKS = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations";

interface WebhookConfiguration {
  metadata: { resourceVersion?: string };
  webhooks?: { clientConfig?: { caBundle?: string } }[];
}

/** Sets every webhook's caBundle of one MutatingWebhookConfiguration (get + JSON patch guarded by resourceVersion). */
export async function setCaBundle(kube: KubeClient, name: string, bundlePem: string, signal?: AbortSignal): Promise<void> {
  const path = `${WEBHOOKS}/${encodeURIComponent(name)}`;
  const config = await kube.get<WebhookConfiguration>(path, { signal });
  const caBundle = Buffer.from(bundlePem).toString("base64");
  const ops: unknown[] = [{ op: "test", path: "/metadata/resourceVersion", value: config.metadata.resourceVersion }];
  (config.webhooks ?? []).forEach((_, i) => ops.push({ op: "add", path: `/webhooks/${i}/clientConfig/caBundle`, value: caBundle }));
  await kube.request("PATCH", path, ops, { signal, contentType: "application/json-patch+json" });
}

export interface AutoTlsOptions {
  hosts: string[];
  validityMs: number;
  /** Renew when this fraction of the validity has passed. Default 2/3. */
  renewAt?: number;
  /** Publishes the CA bundle clients must trust; resolves once it is in place. */
  publishBundle: (bundlePem: string) => Promise<void>;
  onPair: OnPair;
  onError: (err: Error) => void;
}

/**
 * Rotation order that rejects no review: publish old+new CA, then serve the
 * new certificate; the old CA leaves the bundle at the next rotation.
 */
export async function startAutoTls(options: AutoTlsOptions): Promise<{ pair: GeneratedPair; bundle(): string; rotate(): Promise<void>; stop(): void }> {
  let current = await generatePair(options.hosts, options.validityMs);
  let bundle = current.caPem;
  await options.publishBundle(bundle);
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const schedule = (): void => {
    if (stopped) return;
    const delay = Math.max(1000, options.validityMs * (options.renewAt ?? 2 / 3));
    timer = setTimeout(() => void rotate().catch(options.onError), delay);
    timer.unref();
  };
  let rotating: Promise<void> | undefined;
  const rotate = (): Promise<void> => {
    rotating ??= (async () => {
      try {
        const next = await generatePair(options.hosts, options.validityMs);
        const both = current.caPem + next.caPem;
        await options.publishBundle(both);
        bundle = both;
        current = next;
        options.onPair(next);
      } finally {
        rotating = undefined;
        clearTimeout(timer);
        schedule();
      }
    })();
    return rotating;
  };
  schedule();
  return {
    pair: current,
    bundle: () => bundle,
    rotate,
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
