import * as x509 from "@peculiar/x509";
import { Gauge, register, type Registry } from "prom-client";
import { badRequest, notFound } from "../../core/errors.js";
import { checkCertificates, checkClientKeyPair, pemInput, quoted } from "../../core/input.js";
import type { Logger, LogicalRequest, PathDef } from "../../core/types.js";
import type { StorageView } from "../../storage/types.js";
import { listPaths } from "./list-paths.js";
import { keyAlgorithm, keyAndRequest, type KeyAlgorithm } from "./path-csr.js";

const DAY = 86_400;

/** A key latchkey generated with its CSR (`classic-keys/<name>`, Akeyless's classic key), readable only through `csr/<name>/key`. */
interface ClassicKey {
  algorithm: KeyAlgorithm;
  key: string;
  csr: string;
}

/** A stored certificate (`certificates/<name>`) and when to raise its expiration event. */
interface StoredCertificate {
  certificate: string;
  key: string;
  /** Unix seconds. */
  notAfter: number;
  /** Days before `notAfter`; 0 = no event. */
  expirationEventIn: number;
}

/** One certificate whose expiration event is due. */
export interface ExpirationEvent {
  name: string;
  type: "certificate-pending-expiration";
  expiration: string;
  seconds_left: number;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]*(\/[A-Za-z0-9][A-Za-z0-9._@-]*)*$/;

function itemName(req: LogicalRequest): string {
  const name = req.params.name;
  if (!NAME.test(name) || name.length > 256) throw badRequest(`invalid name ${quoted(name)}`);
  return name;
}

export interface CertificateDeps {
  logger: Logger;
  mountPath: string;
  /** Unix milliseconds. */
  now: () => number;
  /** Where the expiry gauge is registered; default prom-client's global registry. */
  registry?: Registry;
}

/** Seconds until each stored certificate expires, by mount and name; one gauge per registry. */
const gauges = new WeakMap<Registry, Gauge<"mount" | "name">>();
function expiryGauge(registry: Registry): Gauge<"mount" | "name"> {
  let gauge = gauges.get(registry) ?? (registry.getSingleMetric("latchkey_certificate_expiry_seconds") as Gauge<"mount" | "name"> | undefined);
  gauge ??= new Gauge({
    name: "latchkey_certificate_expiry_seconds",
    help: "Seconds until a certificate stored in a kubernetes secrets engine expires",
    labelNames: ["mount", "name"],
    registers: [registry],
  });
  gauges.set(registry, gauge);
  return gauge;
}

/**
 * Akeyless's certificate verbs on the engine: `csr/<name>` (generate-csr:
 * a new key, kept in the barrier, and its PKCS#10 request),
 * `csr/<name>/key` (export-classic-key), `certificates/<name>`
 * (create-certificate, with an expiration event that many days before
 * `notAfter`) and `events` (list-events). Names may contain `/`.
 */
export function certificatePaths(deps: CertificateDeps) {
  const gauge = expiryGauge(deps.registry ?? register);
  const nowSeconds = () => Math.floor(deps.now() / 1000);

  /** The certificates whose event is due; each logged at warn level and every certificate's time left set on the gauge. */
  async function dueEvents(storage: StorageView, log: boolean): Promise<ExpirationEvent[]> {
    const events: ExpirationEvent[] = [];
    for (const name of await storage.scan("certificates/")) {
      const cert = await storage.getJSON<StoredCertificate>(`certificates/${name}`);
      if (!cert) continue;
      const left = cert.notAfter - nowSeconds();
      gauge.set({ mount: deps.mountPath, name }, left);
      if (cert.expirationEventIn <= 0 || left > cert.expirationEventIn * DAY) continue;
      const expiration = new Date(cert.notAfter * 1000).toISOString();
      events.push({ name, type: "certificate-pending-expiration", expiration, seconds_left: left });
      if (log) deps.logger.warn({ mount: deps.mountPath, name, expiration }, left > 0 ? "certificate expires soon" : "certificate has expired");
    }
    return events;
  }

  const paths: PathDef[] = [
    {
      pattern: "csr/*name",
      fields: {
        common_name: { type: "string", description: "The subject's CN" },
        organization: { type: "string_list", description: "The subject's O (comma-separated or a list)" },
        key_algorithm: { type: "string", description: "RSA2048, RSA4096 or EC256 (default)" },
        generate_key: { type: "bool", description: "Must be true: latchkey makes the key and keeps it" },
      },
      ops: {
        update: async (req) => {
          const name = itemName(req);
          if (name.endsWith("/key")) throw badRequest(`a CSR name may not end in "/key"`);
          if (req.data.generate_key !== true) throw badRequest(`field "generate_key" must be true: latchkey makes the key`);
          const commonName = typeof req.data.common_name === "string" ? req.data.common_name.trim() : "";
          if (commonName === "") throw badRequest(`field "common_name" is required`);
          const organizations = Array.isArray(req.data.organization) ? (req.data.organization as string[]) : [];
          const algorithm = keyAlgorithm(req.data.key_algorithm);
          const { key, csr } = await keyAndRequest(algorithm, commonName, organizations);
          await req.storage.putJSON(`classic-keys/${name}`, { algorithm, key, csr } satisfies ClassicKey);
          return { data: { name, csr, key_algorithm: algorithm } };
        },
        read: async (req) => {
          const name = itemName(req);
          const stored = await req.storage.getJSON<ClassicKey>(`classic-keys/${name.replace(/\/key$/, "")}`);
          if (!stored) throw notFound(`no key named ${quoted(name.replace(/\/key$/, ""))}`);
          // `csr/<name>/key` is export-classic-key; `csr/<name>` never shows the key.
          if (name.endsWith("/key")) return { data: { name: name.slice(0, -4), key: stored.key, key_algorithm: stored.algorithm } };
          return { data: { name, csr: stored.csr, key_algorithm: stored.algorithm } };
        },
        delete: async (req) => {
          await req.storage.delete(`classic-keys/${itemName(req)}`);
          return undefined;
        },
      },
      help: "generate-csr (update), its CSR (read); csr/<name>/key exports the key (export-classic-key).",
    },
    {
      pattern: "certificates/*name",
      fields: {
        certificate_data: { type: "string", description: "PEM or base64 of PEM" },
        key_data: { type: "string", description: "PEM or base64 of PEM key of the certificate; never returned" },
        expiration_event_in: { type: "int", description: "Days before the certificate expires to raise an expiration event" },
      },
      ops: {
        update: async (req) => {
          const name = itemName(req);
          const certificate = pemInput(req.data.certificate_data, "certificate_data");
          if (certificate === "") throw badRequest(`field "certificate_data" is required`);
          checkCertificates(certificate, "certificate_data");
          const key = pemInput(req.data.key_data, "key_data");
          if (key !== "") checkClientKeyPair(certificate, key);
          const days = req.data.expiration_event_in ?? 0;
          if (typeof days !== "number" || !Number.isInteger(days) || days < 0) throw badRequest(`field "expiration_event_in" must be a whole number of days`);
          const notAfter = Math.floor(new x509.X509Certificate(certificate).notAfter.getTime() / 1000);
          await req.storage.putJSON(`certificates/${name}`, { certificate, key, notAfter, expirationEventIn: days } satisfies StoredCertificate);
          await dueEvents(req.storage, true);
          return { data: { name, expiration: new Date(notAfter * 1000).toISOString(), expiration_event_in: days } };
        },
        read: async (req) => {
          const name = itemName(req);
          const cert = await req.storage.getJSON<StoredCertificate>(`certificates/${name}`);
          if (!cert) throw notFound(`no certificate named ${quoted(name)}`);
          return {
            data: {
              name,
              certificate_data: cert.certificate,
              key_set: cert.key !== "",
              expiration: new Date(cert.notAfter * 1000).toISOString(),
              expiration_event_in: cert.expirationEventIn,
            },
          };
        },
        delete: async (req) => {
          const name = itemName(req);
          await req.storage.delete(`certificates/${name}`);
          gauge.remove({ mount: deps.mountPath, name });
          return undefined;
        },
      },
      help: "create-certificate: a certificate (and its key) with an expiration event.",
    },
    ...listPaths("certificates", "List the stored certificates.", (s) => s.scan("certificates/")),
    {
      pattern: "events",
      ops: { read: async (req) => ({ data: { events: await dueEvents(req.storage, false) } }) },
      help: "list-events: the certificates whose expiration event is due.",
    },
  ];
  return { paths, check: (storage: StorageView) => dueEvents(storage, true) };
}
