/**
 * What the test cluster's kube-controller-manager does for latchkey's suites,
 * driven with the real kubectl: approved CSRs are signed by the cluster CA and
 * the certificates authenticate; new namespaces get their `default` service
 * account; deleted namespaces go away; dependents of a deleted owner are
 * garbage-collected.
 */
import { KeyObject, webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { KubeApiError } from "../../src/kube/errors.js";
import type { KubeClient } from "../../src/kube/client.js";
import {
  adminClient,
  cleanup,
  clientAs,
  clientWithCertificate,
  createRoleBinding,
  deleteOnCleanup,
  kubectl,
  kubeTestEnv,
  uniqueName,
  uniqueNamespace,
} from "../helpers/k8s.js";

/**
 * How long a controller may take to act. They react to watch events within a
 * second; the rest is kubectl's own start-up on a loaded machine.
 */
const SETTLE = { timeout: 30_000, interval: 250 };

interface Meta {
  metadata: { name: string; namespace?: string; uid: string };
}

async function getJson<T>(args: string[]): Promise<T> {
  return JSON.parse(await kubectl([...args, "-o", "json"])) as T;
}

/** kubectl's answer for an object that is not there (or not there any more). */
async function isGone(args: string[]): Promise<boolean> {
  try {
    await kubectl(["get", ...args, "-o", "name"]);
    return false;
  } catch (err) {
    if (err instanceof Error && /NotFound|not found/.test(err.message)) return true;
    throw err;
  }
}

/** A 403 from the API server for `client`, whose message names the identity it authenticated. */
async function forbiddenMessage(client: KubeClient, path: string): Promise<string> {
  const err = await client.get(path).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(KubeApiError);
  expect(err).toMatchObject({ status: 403 });
  return (err as KubeApiError).message;
}

describe("the test cluster's controller-manager", { timeout: 90_000 }, () => {
  let ns: string;

  beforeAll(async () => {
    ns = await uniqueNamespace({ "latchkey.test/suite": "k8s-controllers" });
  });

  afterAll(cleanup);

  describe("a CSR for kubernetes.io/kube-apiserver-client, approved with kubectl", () => {
    const user = uniqueName("lk-csr-user");
    const group = uniqueName("lk-csr-group");
    let certPem: string;
    let keyPem: string;

    beforeAll(async () => {
      x509.cryptoProvider.set(webcrypto);
      const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
      const keys = await webcrypto.subtle.generateKey(alg, true, ["sign", "verify"]);
      keyPem = KeyObject.from(keys.privateKey).export({ format: "pem", type: "pkcs8" }).toString();
      const csr = await x509.Pkcs10CertificateRequestGenerator.create({
        name: `CN=${user}, O=${group}`,
        keys,
        signingAlgorithm: alg,
      });
      const name = uniqueName("lk-csr");
      deleteOnCleanup(`/apis/certificates.k8s.io/v1/certificatesigningrequests/${name}`);
      const manifest = {
        apiVersion: "certificates.k8s.io/v1",
        kind: "CertificateSigningRequest",
        metadata: { name, labels: { "latchkey.test": "true" } },
        spec: {
          request: Buffer.from(csr.toString("pem")).toString("base64"),
          signerName: "kubernetes.io/kube-apiserver-client",
          usages: ["digital signature", "client auth"],
        },
      };
      await kubectl(["create", "-f", "-"], { input: JSON.stringify(manifest) });
      await kubectl(["certificate", "approve", name]);

      const issued = await vi.waitFor(async () => {
        const b64 = await kubectl(["get", "csr", name, "-o", "jsonpath={.status.certificate}"]);
        if (b64.trim() === "") throw new Error(`CSR ${name} is approved but still has no certificate`);
        return b64.trim();
      }, SETTLE);
      certPem = Buffer.from(issued, "base64").toString("utf8");
    });

    it("is signed by the cluster CA for the subject it asked for, for client auth only", async () => {
      const caPem = kubeTestEnv().caPem;
      expect(caPem, "KUBE_CA names the cluster CA").toBeDefined();
      const ca = new x509.X509Certificate(caPem as string);
      const cert = new x509.X509Certificate(certPem);
      expect(cert.issuer).toBe(ca.subject);
      expect(await cert.verify({ publicKey: ca.publicKey, signatureOnly: true })).toBe(true);
      expect(cert.subjectName.getField("CN")).toEqual([user]);
      expect(cert.subjectName.getField("O")).toEqual([group]);
      const eku = cert.getExtension(x509.ExtendedKeyUsageExtension);
      expect(eku?.usages).toEqual([x509.ExtendedKeyUsage.clientAuth]);
    });

    it("authenticates to the API server as its CN", async () => {
      const client = clientWithCertificate(certPem, keyPem);
      const message = await forbiddenMessage(client, `/api/v1/namespaces/${ns}/secrets`);
      expect(message).toContain(`User "${user}"`);
      expect(message).not.toContain("system:anonymous");
    });

    it("carries its O as a group that RBAC bindings apply to (to the aggregated view role)", async () => {
      const client = clientWithCertificate(certPem, keyPem);
      await createRoleBinding(ns, "csr-group-view", { kind: "ClusterRole", name: "view" }, [
        { kind: "Group", name: group, apiGroup: "rbac.authorization.k8s.io" },
      ]);
      await vi.waitFor(async () => {
        const list = await client.get<{ kind: string }>(`/api/v1/namespaces/${ns}/configmaps`);
        expect(list.kind).toBe("ConfigMapList");
      }, SETTLE);
      // Still nothing outside the namespace the group was granted.
      expect(await forbiddenMessage(client, "/api/v1/namespaces/default/configmaps")).toContain(`User "${user}"`);
    });
  });

  describe("a new namespace", () => {
    let fresh: string;

    beforeAll(async () => {
      fresh = await uniqueNamespace({ "latchkey.test/suite": "k8s-controllers" });
    });

    it("gets its default service account, whose legacy token secret authenticates as it", async () => {
      const sa = await vi.waitFor(async () => {
        const got = await getJson<Meta & { secrets?: { name: string }[] }>(["get", "serviceaccount", "default", "-n", fresh]);
        expect(got.secrets?.length ?? 0, "the default service account has a token secret").toBeGreaterThan(0);
        return got;
      }, SETTLE);
      const secretName = sa.secrets?.[0]?.name as string;
      const secret = await getJson<{ type: string; data: Record<string, string> }>(["get", "secret", secretName, "-n", fresh]);
      expect(secret.type).toBe("kubernetes.io/service-account-token");
      const token = Buffer.from(secret.data.token ?? "", "base64").toString("utf8");
      expect(Buffer.from(secret.data["ca.crt"] ?? "", "base64").toString("utf8")).toBe(kubeTestEnv().caPem);

      const review = await adminClient().tokenReview(token, []);
      expect(review.authenticated).toBe(true);
      expect(review.user?.username).toBe(`system:serviceaccount:${fresh}:default`);
      expect(review.user?.uid).toBe(sa.metadata.uid);
      // And the API server takes it as a bearer token, as that identity.
      const message = await forbiddenMessage(clientAs(token), `/api/v1/namespaces/${fresh}/secrets`);
      expect(message).toContain(`system:serviceaccount:${fresh}:default`);
    });

    it("gets the kube-root-ca.crt ConfigMap with the cluster CA", async () => {
      const caPem = await vi.waitFor(
        () => kubectl(["get", "configmap", "kube-root-ca.crt", "-n", fresh, "-o", "jsonpath={.data.ca\\.crt}"]),
        SETTLE,
      );
      expect(caPem).toBe(kubeTestEnv().caPem);
    });
  });

  describe("deleting a namespace", () => {
    it("empties and finalises it: the namespace disappears", async () => {
      const doomed = uniqueName("lk-test-doomed");
      deleteOnCleanup(`/api/v1/namespaces/${doomed}`);
      await kubectl(["create", "namespace", doomed]);
      await kubectl(["create", "configmap", "content", "-n", doomed, "--from-literal=k=v"]);
      await kubectl(["create", "serviceaccount", "workload", "-n", doomed]);
      await kubectl(["create", "secret", "generic", "creds", "-n", doomed, "--from-literal=password=hunter2"]);

      // kubectl waits for the deletion to finish, which takes the namespace controller.
      await kubectl(["delete", "namespace", doomed, "--timeout=50s"]);
      expect(await isGone(["namespace", doomed])).toBe(true);
      expect(await adminClient().getNamespace(doomed)).toBeUndefined();
      // The same name can be used again, empty.
      await kubectl(["create", "namespace", doomed]);
      expect(await isGone(["configmap", "content", "-n", doomed])).toBe(true);
    });
  });

  describe("the garbage collector", () => {
    async function configMap(name: string, owner?: Meta): Promise<Meta> {
      const manifest = {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: {
          name,
          namespace: ns,
          ...(owner && {
            ownerReferences: [{ apiVersion: "v1", kind: "ConfigMap", name: owner.metadata.name, uid: owner.metadata.uid }],
          }),
        },
        data: { k: "v" },
      };
      return JSON.parse(await kubectl(["create", "-f", "-", "-o", "json"], { input: JSON.stringify(manifest) })) as Meta;
    }

    it("deletes the dependents of an owner deleted with kubectl", async () => {
      const owner = await configMap("owner");
      await configMap("dependent-a", owner);
      await configMap("dependent-b", owner);
      const bystander = await configMap("bystander");

      await kubectl(["delete", "configmap", "owner", "-n", ns]);
      await vi.waitFor(async () => {
        expect(await isGone(["configmap", "dependent-a", "-n", ns])).toBe(true);
        expect(await isGone(["configmap", "dependent-b", "-n", ns])).toBe(true);
      }, SETTLE);
      const still = await getJson<Meta>(["get", "configmap", "bystander", "-n", ns]);
      expect(still.metadata.uid).toBe(bystander.metadata.uid);
    });

    it("deletes an object whose owner was already gone when it was made", async () => {
      const owner = await configMap("short-lived-owner");
      await kubectl(["delete", "configmap", "short-lived-owner", "-n", ns]);
      expect(await isGone(["configmap", "short-lived-owner", "-n", ns])).toBe(true);
      await configMap("orphan", owner);
      await vi.waitFor(async () => {
        expect(await isGone(["configmap", "orphan", "-n", ns])).toBe(true);
      }, SETTLE);
    });

    it("keeps the dependents when the owner is deleted with --cascade=orphan, and drops their owner reference", async () => {
      const owner = await configMap("orphaning-owner");
      await configMap("kept", owner);
      await kubectl(["delete", "configmap", "orphaning-owner", "-n", ns, "--cascade=orphan"]);
      await vi.waitFor(async () => {
        expect(await isGone(["configmap", "orphaning-owner", "-n", ns])).toBe(true);
        const kept = await getJson<Meta & { metadata: { ownerReferences?: unknown[] } }>(["get", "configmap", "kept", "-n", ns]);
        expect(kept.metadata.ownerReferences ?? []).toEqual([]);
      }, SETTLE);
    });
  });
});
