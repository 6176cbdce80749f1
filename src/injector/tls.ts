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

/** A signing CA kept in memory only; its private key never leaves the process. */
export interface SigningCa {
  pem: string;
  subject: string;
  keys: webcrypto.CryptoKeyPair;
}

/** A fresh CA valid for `validityMs`. */
export async function generateCa(validityMs: number, now = new Date()): Promise<SigningCa> {
  x509.cryptoProvider.set(webcrypto);
  const keys = await webcrypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]);
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    // A distinct subject per CA: the bundle holds two at a time.
    name: `CN=latchkey-injector-ca-${Buffer.from(webcrypto.getRandomValues(new Uint8Array(6))).toString("hex")}`,
    keys,
    signingAlgorithm: ALGORITHM,
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + validityMs),
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { pem: ca.toString("pem"), subject: ca.subject, keys };
}

/** The CA as PEM certificate and PKCS#8 private key, for a Secret that replicas share. */
export async function exportCa(ca: SigningCa): Promise<{ cert: string; key: string }> {
  return { cert: ca.pem, key: pkcs8Pem(await webcrypto.subtle.exportKey("pkcs8", ca.keys.privateKey)) };
}

/** The inverse of exportCa: a CA another replica generated, able to sign again. */
export async function importCa(certPem: string, keyPem: string): Promise<SigningCa> {
  x509.cryptoProvider.set(webcrypto);
  const cert = new x509.X509Certificate(certPem);
  const der = Buffer.from(keyPem.replace(/-----(BEGIN|END) PRIVATE KEY-----|\s/g, ""), "base64");
  const privateKey = await webcrypto.subtle.importKey("pkcs8", der, { name: "ECDSA", namedCurve: "P-256" }, true, ["sign"]);
  const publicKey = await cert.publicKey.export({ name: "ECDSA", namedCurve: "P-256" }, ["verify"], webcrypto);
  return { pem: cert.toString("pem"), subject: cert.subject, keys: { privateKey, publicKey } };
}

function pkcs8Pem(der: ArrayBuffer): string {
  const b64 = Buffer.from(der).toString("base64");
  return `-----BEGIN PRIVATE KEY-----\n${b64.replace(/.{64}/g, "$&\n")}\n-----END PRIVATE KEY-----\n`;
}

/** A serving certificate signed by `ca` for `hosts` (DNS names or IP addresses). */
export async function issueServing(ca: SigningCa, hosts: string[], validityMs: number, now = new Date()): Promise<GeneratedPair> {
  x509.cryptoProvider.set(webcrypto);
  const notAfter = new Date(now.getTime() + validityMs);
  const keys = await webcrypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]);
  const cert = await x509.X509CertificateGenerator.create({
    subject: `CN=${hosts[0] ?? "latchkey-injector"}`,
    issuer: ca.subject,
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    signingAlgorithm: ALGORITHM,
    notBefore: new Date(now.getTime() - 60_000),
    notAfter,
    serialNumber: webcrypto.getRandomValues(new Uint8Array(8)).reduce((s, b) => s + b.toString(16).padStart(2, "0"), "01"),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      await x509.AuthorityKeyIdentifierExtension.create(ca.keys.publicKey),
      new x509.SubjectAlternativeNameExtension(hosts.map((h) => (isIP(h) ? { type: "ip", value: h } : { type: "dns", value: h }))),
    ],
  });
  const key = pkcs8Pem(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey));
  return { cert: cert.toString("pem"), key, caPem: ca.pem, notAfter };
}

/** A fresh CA and a serving certificate it signs: for tests and one-off use. */
export async function generatePair(hosts: string[], validityMs: number): Promise<GeneratedPair> {
  return issueServing(await generateCa(validityMs), hosts, validityMs);
}

const WEBHOOKS = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations";

interface WebhookConfiguration {
  metadata: { resourceVersion?: string };
  webhooks?: { clientConfig?: { caBundle?: string } }[];
}

/** The caBundle (PEM) every webhook of the configuration holds, or undefined when they differ or one has none. */
export async function getCaBundle(kube: KubeClient, name: string, signal?: AbortSignal): Promise<string | undefined> {
  const config = await kube.get<WebhookConfiguration>(`${WEBHOOKS}/${encodeURIComponent(name)}`, { signal });
  const bundles = new Set((config.webhooks ?? []).map((w) => w.clientConfig?.caBundle ?? ""));
  const [only] = bundles;
  return bundles.size === 1 && only ? Buffer.from(only, "base64").toString("utf8") : undefined;
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
  /**
   * How long a published bundle must have been in place before the server
   * switches to a certificate it newly trusts: the API server picks up a
   * changed webhook configuration through a watch, not at once. Default 10 s.
   */
  settleMs?: number;
  /** Publishes the CA bundle clients must trust; resolves once it is in place. */
  publishBundle: (bundlePem: string) => Promise<void>;
  onPair: OnPair;
  onError: (err: Error) => void;
}

/**
 * Rotation that rejects no review: the bundle always holds the serving CA and
 * the next one, published a whole period (at least `settleMs`) before the
 * server switches to a certificate the next CA signs.
 */
export async function startAutoTls(options: AutoTlsOptions): Promise<{ pair: GeneratedPair; bundle(): string; rotate(): Promise<void>; stop(): void }> {
  // Each CA serves for one period after being the "next" one for a period.
  const caValidity = options.validityMs * 3;
  let ca = await generateCa(caValidity);
  let current = await issueServing(ca, options.hosts, options.validityMs);
  let next = await generateCa(caValidity);
  let bundle = bundleOf(ca, next);
  await options.publishBundle(bundle);
  let publishedAt = Date.now();
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
        const wait = publishedAt + (options.settleMs ?? 10_000) - Date.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        const pair = await issueServing(next, options.hosts, options.validityMs);
        options.onPair(pair);
        ca = next;
        current = pair;
        next = await generateCa(caValidity);
        const both = bundleOf(ca, next);
        await options.publishBundle(both);
        bundle = both;
        publishedAt = Date.now();
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

/** PEM blocks each on their own lines: `toString("pem")` ends without a newline, and Go's PEM reader needs one. */
export function bundleOf(...cas: { pem: string }[]): string {
  return cas.map((c) => `${c.pem.trim()}\n`).join("");
}
