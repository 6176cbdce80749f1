import { KeyObject, randomBytes, webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";
import { badRequest, notFound } from "../../core/errors.js";
import { checkClientKeyPair, isRecord, isValidName, quoted, stringList } from "../../core/input.js";
import type { Logger, LogicalRequest, LogicalResponse, PathDef } from "../../core/types.js";
import { kubeFailure, targetLabel } from "./failures.js";
import { objectPath } from "./objects.js";
import { getTarget, putTarget } from "./store.js";
import type { TargetClients } from "./types.js";

x509.cryptoProvider.set(webcrypto);

/** The signer the kube-controller-manager runs for client certificates the API server accepts. */
export const CLIENT_SIGNER = "kubernetes.io/kube-apiserver-client";

/** Key algorithms, by the names Akeyless's `--alg` uses. */
export const KEY_ALGORITHMS = {
  RSA2048: { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" },
  RSA4096: { name: "RSASSA-PKCS1-v1_5", modulusLength: 4096, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" },
  EC256: { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" },
} as const;
export type KeyAlgorithm = keyof typeof KEY_ALGORITHMS;

export function keyAlgorithm(value: unknown, field = "key_algorithm"): KeyAlgorithm {
  const alg = typeof value === "string" && value !== "" ? value.toUpperCase() : "EC256";
  if (!Object.hasOwn(KEY_ALGORITHMS, alg)) throw badRequest(`field "${field}" must be one of ${Object.keys(KEY_ALGORITHMS).join(", ")}`);
  return alg as KeyAlgorithm;
}

/** A new key pair and a PKCS#10 request for `CN=commonName, O=org...`, both PEM; the key is PKCS#8. */
export async function keyAndRequest(alg: KeyAlgorithm, commonName: string, organizations: string[]): Promise<{ key: string; csr: string }> {
  const params = KEY_ALGORITHMS[alg];
  const pair = (await webcrypto.subtle.generateKey(params, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  const name = [{ CN: [commonName] }, ...organizations.map((o) => ({ O: [o] }))];
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name, keys: pair, signingAlgorithm: params });
  const key = KeyObject.from(pair.privateKey).export({ format: "pem", type: "pkcs8" }).toString();
  return { key, csr: csr.toString("pem") };
}

/** A target's certificate request in progress (`csr/<target>`): the key waits in the barrier until the certificate is issued. */
interface PendingCsr {
  name: string;
  commonName: string;
  request: string;
  key: string;
}

const pendingKey = (target: string) => `csr/${target === "" ? "config" : `targets/${target}`}`;

export interface CsrDeps {
  clients: TargetClients;
  logger: Logger;
}

const CSR_FIELDS = {
  common_name: { type: "string" as const, description: "The user name the API server will see (the certificate's CN)" },
  organization: { type: "string_list" as const, description: "The groups the API server will see (the certificate's O)" },
  key_algorithm: { type: "string" as const, description: "RSA2048, RSA4096 or EC256 (default)" },
};

/**
 * `targets/<name>/csr` and `config/csr`: latchkey makes a key, files a
 * `certificates.k8s.io/v1` CertificateSigningRequest for the
 * `kube-apiserver-client` signer through the target's current credential,
 * and keeps the key in its own storage. Once someone approves the request
 * (`kubectl certificate approve`) and the controller-manager signs it,
 * `.../csr/install` switches the target to that certificate and key.
 */
export function csrPaths(deps: CsrDeps): PathDef[] {
  const paths = (prefix: string, nameOf: (req: LogicalRequest) => string): PathDef[] => [
    {
      pattern: `${prefix}/csr`,
      fields: CSR_FIELDS,
      ops: {
        update: (req) => requestCertificate(req, nameOf(req), deps),
        read: (req) => csrStatus(req, nameOf(req), deps),
      },
      help: "File a CertificateSigningRequest for a client certificate for the target (update), or read its state.",
    },
    {
      pattern: `${prefix}/csr/install`,
      fields: {},
      ops: { update: (req) => install(req, nameOf(req), deps) },
      help: "Switch the target to the certificate the cluster issued for its CSR.",
    },
  ];
  return [
    ...paths("config", () => ""),
    ...paths("targets/:name", (req) => {
      if (!isValidName(req.params.name)) throw badRequest(`invalid target name ${quoted(req.params.name)}`);
      return req.params.name;
    }),
  ];
}

async function targetOf(req: LogicalRequest, name: string) {
  const target = await getTarget(req.storage, name);
  if (!target) throw notFound(`${targetLabel(name)} does not exist`);
  return target;
}

const csrRef = (name: string) => ({ kind: "CertificateSigningRequest" as const, name });

async function requestCertificate(req: LogicalRequest, name: string, deps: CsrDeps): Promise<LogicalResponse> {
  const commonName = typeof req.data.common_name === "string" ? req.data.common_name.trim() : "";
  if (commonName === "") throw badRequest(`field "common_name" is required`);
  const organizations = stringList(req.data.organization, "organization");
  const alg = keyAlgorithm(req.data.key_algorithm);
  const target = await targetOf(req, name);
  const { key, csr } = await keyAndRequest(alg, commonName, organizations);
  const csrName = `latchkey-${name || "config"}-${randomBytes(4).toString("hex")}`;
  const api = await deps.clients.clientFor(name, target);
  // Stored first: a crash after the CSR exists leaves a request whose key latchkey still has.
  await req.storage.putJSON(pendingKey(name), { name: csrName, commonName, request: csr, key } satisfies PendingCsr);
  await api
    .create("/apis/certificates.k8s.io/v1/certificatesigningrequests", {
      apiVersion: "certificates.k8s.io/v1",
      kind: "CertificateSigningRequest",
      metadata: { name: csrName },
      spec: { request: Buffer.from(csr).toString("base64"), signerName: CLIENT_SIGNER, usages: ["digital signature", "client auth"] },
    })
    .catch(async (err: unknown) => {
      await req.storage.delete(pendingKey(name));
      throw kubeFailure(err, { verb: "create", kind: "CertificateSigningRequest", name: csrName, target: name }, deps.logger);
    });
  return {
    data: { csr_name: csrName, csr, signer_name: CLIENT_SIGNER },
    warnings: [`approve it with: kubectl certificate approve ${csrName}; then write ${name === "" ? "config" : `targets/${name}`}/csr/install`],
  };
}

interface CsrState {
  approved: boolean;
  denied: boolean;
  certificate: string;
}

async function readCsr(req: LogicalRequest, name: string, deps: CsrDeps): Promise<{ pending: PendingCsr; state: CsrState }> {
  const pending = await req.storage.getJSON<PendingCsr>(pendingKey(name));
  if (!pending) throw notFound(`${targetLabel(name)} has no certificate request in progress`);
  const api = await deps.clients.clientFor(name, await targetOf(req, name));
  const obj = await api.get<unknown>(objectPath(csrRef(pending.name))).catch((err: unknown) => {
    throw kubeFailure(err, { verb: "get", kind: "CertificateSigningRequest", name: pending.name, target: name }, deps.logger);
  });
  const status = isRecord(obj) && isRecord(obj.status) ? obj.status : {};
  const conditions = Array.isArray(status.conditions) ? status.conditions.filter(isRecord) : [];
  const has = (type: string) => conditions.some((c) => c.type === type && c.status !== "False");
  const certificate = typeof status.certificate === "string" ? Buffer.from(status.certificate, "base64").toString("utf8") : "";
  return { pending, state: { approved: has("Approved"), denied: has("Denied") || has("Failed"), certificate } };
}

async function csrStatus(req: LogicalRequest, name: string, deps: CsrDeps): Promise<LogicalResponse> {
  const { pending, state } = await readCsr(req, name, deps);
  return {
    data: {
      csr_name: pending.name,
      common_name: pending.commonName,
      csr: pending.request,
      approved: state.approved,
      denied: state.denied,
      issued: state.certificate !== "",
    },
  };
}

async function install(req: LogicalRequest, name: string, deps: CsrDeps): Promise<LogicalResponse> {
  const { pending, state } = await readCsr(req, name, deps);
  if (state.denied) throw badRequest(`certificate request "${pending.name}" was denied or failed; write the csr path again for a new one`);
  if (state.certificate === "") {
    throw badRequest(
      state.approved
        ? `certificate request "${pending.name}" is approved but not signed yet; try again shortly`
        : `certificate request "${pending.name}" is not approved yet: kubectl certificate approve ${pending.name}`,
    );
  }
  checkClientKeyPair(state.certificate, pending.key);
  const target = await targetOf(req, name);
  await req.storage.transaction(async (tx) => {
    // The bootstrap credential is dropped: the target now holds only its certificate.
    await putTarget(tx, name, { ...target, credential: "client_certificate", serviceAccountJwt: "", clientCert: state.certificate, clientKey: pending.key });
    await tx.delete(pendingKey(name));
  });
  const notAfter = new x509.X509Certificate(state.certificate).notAfter.toISOString();
  return { data: { csr_name: pending.name, client_cert: state.certificate, expiration: notAfter } };
}
