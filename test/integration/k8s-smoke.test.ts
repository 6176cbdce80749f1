/**
 * The round trip every Kubernetes feature of latchkey rests on, against a real
 * API server: a pod-bound token with our own audience, reviewed by an identity
 * holding only system:auth-delegator.
 */
import { createLocalJWKSet, decodeJwt, jwtVerify, type JSONWebKeySet } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KubeClient } from "../../src/kube/client.js";
import { KubeApiError } from "../../src/kube/errors.js";
import {
  cleanup,
  clientAs,
  createClusterRoleBinding,
  createPod,
  createServiceAccount,
  kubectl,
  serviceAccountSubject,
  tokenRequest,
  uniqueName,
  uniqueNamespace,
  type CreatedRef,
} from "../helpers/k8s.js";

const AUDIENCE = "latchkey-smoke";

describe("kubernetes control plane smoke test", () => {
  let ns: string;
  let pod: CreatedRef;
  let workloadToken: string;
  let reviewer: KubeClient;
  let bystander: KubeClient;

  beforeAll(async () => {
    ns = await uniqueNamespace({ "latchkey.test/suite": "k8s-smoke" });
    await createServiceAccount(ns, "workload");
    pod = await createPod(ns, "workload-pod", "workload");
    workloadToken = (await tokenRequest(ns, "workload", { audiences: [AUDIENCE], pod })).token;

    await createServiceAccount(ns, "reviewer");
    await createClusterRoleBinding(uniqueName("lk-smoke-reviewer"), "system:auth-delegator", [
      serviceAccountSubject(ns, "reviewer"),
    ]);
    reviewer = clientAs((await tokenRequest(ns, "reviewer")).token);

    await createServiceAccount(ns, "bystander");
    bystander = clientAs((await tokenRequest(ns, "bystander")).token);
  });

  afterAll(cleanup);

  it("issues a pod-bound token that names the pod", () => {
    const claims = decodeJwt(workloadToken);
    expect(claims.aud).toEqual([AUDIENCE]);
    expect(claims.sub).toBe(`system:serviceaccount:${ns}:workload`);
    expect(claims["kubernetes.io"]).toMatchObject({
      namespace: ns,
      pod: { name: "workload-pod", uid: pod.uid },
      serviceaccount: { name: "workload" },
    });
  });

  it("authenticates the token for a reviewer holding only system:auth-delegator", async () => {
    const review = await reviewer.tokenReview(workloadToken, [AUDIENCE]);
    expect(review.authenticated).toBe(true);
    expect(review.audiences).toEqual([AUDIENCE]);
    expect(review.user?.username).toBe(`system:serviceaccount:${ns}:workload`);
    expect(review.user?.groups).toEqual(
      expect.arrayContaining(["system:serviceaccounts", `system:serviceaccounts:${ns}`, "system:authenticated"]),
    );
    expect(review.user?.extra?.["authentication.kubernetes.io/pod-name"]).toEqual(["workload-pod"]);
    expect(review.user?.extra?.["authentication.kubernetes.io/pod-uid"]).toEqual([pod.uid]);
  });

  it("does not authenticate the token for another audience", async () => {
    const review = await reviewer.tokenReview(workloadToken, ["someone-else"]);
    expect(review.authenticated).toBe(false);
    expect(review.error).toContain("token audiences");
  });

  it("refuses the review to an identity without system:auth-delegator", async () => {
    const err = await bystander.tokenReview(workloadToken, [AUDIENCE]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeApiError);
    expect(err).toMatchObject({ status: 403, reason: "Forbidden" });
    expect((err as KubeApiError).message).toContain(`system:serviceaccount:${ns}:bystander`);
    expect((err as KubeApiError).message).not.toContain(workloadToken);
  });

  it("publishes OIDC discovery anonymously, and its keys verify the token", async () => {
    const anonymous = clientAs();
    const discovery = await anonymous.get<{ issuer: string; jwks_uri: string }>("/.well-known/openid-configuration");
    const jwks = await anonymous.get<JSONWebKeySet>("/openid/v1/jwks", { accept: "application/jwk-set+json" });
    expect(new URL(discovery.jwks_uri).pathname).toBe("/openid/v1/jwks");
    const { payload } = await jwtVerify(workloadToken, createLocalJWKSet(jwks), {
      issuer: discovery.issuer,
      audience: AUDIENCE,
    });
    expect(payload.sub).toBe(`system:serviceaccount:${ns}:workload`);
  });

  it("drives the same cluster with kubectl", async () => {
    const sa = JSON.parse(await kubectl(["get", "serviceaccount", "workload", "-n", ns, "-o", "json"])) as {
      metadata: { name: string };
    };
    expect(sa.metadata.name).toBe("workload");
    const phase = await kubectl(["get", "pod", "workload-pod", "-n", ns, "-o", "jsonpath={.status.phase}"]);
    expect(phase).toBe("Pending");
    const canReview = await kubectl([
      "auth",
      "can-i",
      "create",
      "tokenreviews.authentication.k8s.io",
      `--as=system:serviceaccount:${ns}:reviewer`,
    ]);
    expect(canReview.trim()).toBe("yes");
  });
});
