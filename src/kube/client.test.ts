import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { createKubeClient, type KubeClient, type KubeClientConfig } from "./client.js";
import { KubeApiError, KubeUnavailableError, toUpstreamError } from "./errors.js";

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  body: string;
}

type Handler = (req: Seen, res: ServerResponse) => void;

const servers: Server[] = [];
const clients: KubeClient[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

/** A stand-in API server on loopback; `seen` records every request it got. */
async function fakeApi(handler: Handler): Promise<{ url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk: Buffer) => (body += chunk.toString("utf8")));
    req.on("end", () => {
      const s = { method: req.method ?? "", url: req.url ?? "", headers: req.headers, body };
      seen.push(s);
      handler(s, res);
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, seen };
}

function client(config: KubeClientConfig): KubeClient {
  const c = createKubeClient(config);
  clients.push(c);
  return c;
}

const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(body));
};

const status = (code: number, reason: string, message: string) => ({
  kind: "Status",
  apiVersion: "v1",
  status: "Failure",
  message,
  reason,
  code,
});

describe("createKubeClient", () => {
  it("sends the bearer token and query and parses the JSON body", async () => {
    const api = await fakeApi((_req, res) => json(res, 200, { kind: "NamespaceList", items: [] }));
    const kube = client({ host: `${api.url}/proxy/`, token: "admin-token-123" });
    const list = await kube.get<{ kind: string }>("/api/v1/namespaces", {
      query: { labelSelector: "a=b,c in (d)", limit: 5, continue: undefined },
    });
    expect(list.kind).toBe("NamespaceList");
    expect(api.seen[0].url).toBe("/proxy/api/v1/namespaces?labelSelector=a%3Db%2Cc+in+%28d%29&limit=5");
    expect(api.seen[0].headers.authorization).toBe("Bearer admin-token-123");
    expect(api.seen[0].headers.accept).toBe("application/json");
  });

  it("asks the token provider before every request", async () => {
    const api = await fakeApi((_req, res) => json(res, 200, {}));
    let n = 0;
    const kube = client({ host: api.url, tokenProvider: () => `rotating-token-${++n}\n` });
    await kube.get("/version");
    await kube.get("/version");
    expect(api.seen.map((s) => s.headers.authorization)).toEqual(["Bearer rotating-token-1", "Bearer rotating-token-2"]);
  });

  it("sends no authorization header without credentials", async () => {
    const api = await fakeApi((_req, res) => json(res, 200, {}));
    await client({ host: api.url }).get("/openid/v1/jwks");
    expect(api.seen[0].headers.authorization).toBeUndefined();
  });

  it("refuses both a token and a token provider", () => {
    expect(() => createKubeClient({ host: "https://127.0.0.1:1", token: "a", tokenProvider: () => "b" })).toThrow(
      "give either token or tokenProvider, not both",
    );
  });

  it("sends JSON bodies with the requested content type", async () => {
    const api = await fakeApi((_req, res) => json(res, 200, { ok: true }));
    const kube = client({ host: api.url });
    await kube.request("PATCH", "/api/v1/namespaces/a", { metadata: { labels: { x: "y" } } }, {
      contentType: "application/merge-patch+json",
    });
    expect(api.seen[0].method).toBe("PATCH");
    expect(api.seen[0].headers["content-type"]).toBe("application/merge-patch+json");
    expect(JSON.parse(api.seen[0].body)).toEqual({ metadata: { labels: { x: "y" } } });
  });

  it("throws KubeApiError with the Status reason and message", async () => {
    const api = await fakeApi((_req, res) =>
      json(res, 403, status(403, "Forbidden", 'tokenreviews.authentication.k8s.io is forbidden: User "bob" cannot create resource "tokenreviews"')),
    );
    const err = await client({ host: api.url, token: "t0ken-value" })
      .tokenReview("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln", ["aud"])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeApiError);
    const apiErr = err as KubeApiError;
    expect(apiErr.status).toBe(403);
    expect(apiErr.reason).toBe("Forbidden");
    expect(apiErr.message).toBe(
      'tokenreviews.authentication.k8s.io is forbidden: User "bob" cannot create resource "tokenreviews"',
    );
    expect(apiErr.method).toBe("POST");
    expect(apiErr.path).toBe("/apis/authentication.k8s.io/v1/tokenreviews");
    expect(toUpstreamError(apiErr).status).toBe(502);
  });

  it("never puts the token or a JWT into the error message", async () => {
    const secret = "sup3r-secret-admin-token";
    const jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl";
    const api = await fakeApi((_req, res) =>
      json(res, 401, status(401, "Unauthorized", `token ${secret} rejected; also saw ${jwt} and Bearer abc.def`)),
    );
    const err = await client({ host: api.url, token: secret })
      .get("/api")
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeApiError);
    expect((err as KubeApiError).message).toBe("token [redacted] rejected; also saw [redacted] and Bearer [redacted]");
  });

  it("falls back to the HTTP status when the body is not a Status object", async () => {
    const api = await fakeApi((_req, res) => {
      res.writeHead(502, { "content-type": "text/html" });
      res.end("<html>bad gateway</html>");
    });
    const err = await client({ host: api.url })
      .get("/api")
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ name: "KubeApiError", status: 502, reason: "Unknown", message: "<html>bad gateway</html>" });
  });

  it("retries 429 honouring Retry-After, then succeeds", async () => {
    let calls = 0;
    const api = await fakeApi((_req, res) => {
      calls++;
      if (calls < 3) json(res, 429, status(429, "TooManyRequests", "too many requests"), { "retry-after": "0" });
      else json(res, 201, { created: true });
    });
    const kube = client({ host: api.url, retry: { baseDelayMs: 5_000 } });
    const started = Date.now();
    expect(await kube.create("/api/v1/namespaces", { metadata: { name: "a" } })).toEqual({ created: true });
    expect(calls).toBe(3);
    // Retry-After: 0 wins over the 5 s exponential backoff.
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(api.seen.every((s) => JSON.parse(s.body).metadata.name === "a")).toBe(true);
  });

  it("caps Retry-After and gives up after the configured attempts", async () => {
    const api = await fakeApi((_req, res) =>
      json(res, 429, status(429, "TooManyRequests", "the server has received too many requests"), { "retry-after": "60" }),
    );
    const kube = client({ host: api.url, retry: { attempts: 3, maxDelayMs: 20 } });
    const started = Date.now();
    const err = await kube.get("/api").catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(api.seen).toHaveLength(3);
    expect(err).toMatchObject({ name: "KubeApiError", status: 429, reason: "TooManyRequests" });
  });

  it("backs off exponentially when 429 carries no Retry-After", async () => {
    const times: number[] = [];
    const api = await fakeApi((_req, res) => {
      times.push(Date.now());
      json(res, 429, status(429, "TooManyRequests", "slow down"));
    });
    const kube = client({ host: api.url, retry: { attempts: 3, baseDelayMs: 50, maxDelayMs: 1_000 } });
    await expect(kube.get("/api")).rejects.toBeInstanceOf(KubeApiError);
    expect(times[1] - times[0]).toBeGreaterThanOrEqual(45);
    expect(times[2] - times[1]).toBeGreaterThanOrEqual(95);
  });

  it("delete resolves false for an object already gone", async () => {
    const api = await fakeApi((req, res) =>
      req.url.endsWith("/gone")
        ? json(res, 404, status(404, "NotFound", 'pods "gone" not found'))
        : json(res, 200, { kind: "Pod" }),
    );
    const kube = client({ host: api.url });
    expect(await kube.delete("/api/v1/namespaces/a/pods/gone")).toBe(false);
    expect(await kube.delete("/api/v1/namespaces/a/pods/here")).toBe(true);
  });

  it("getNamespace resolves undefined for a missing namespace", async () => {
    const api = await fakeApi((req, res) =>
      req.url === "/api/v1/namespaces/present"
        ? json(res, 200, { kind: "Namespace", metadata: { name: "present", labels: { team: "a" } } })
        : json(res, 404, status(404, "NotFound", "namespaces not found")),
    );
    const kube = client({ host: api.url });
    expect((await kube.getNamespace("present"))?.metadata.labels).toEqual({ team: "a" });
    expect(await kube.getNamespace("absent")).toBeUndefined();
  });

  it("reviews a token with the requested audiences", async () => {
    const api = await fakeApi((_req, res) =>
      json(res, 201, {
        kind: "TokenReview",
        status: {
          authenticated: true,
          user: { username: "system:serviceaccount:ns:sa", extra: { "authentication.kubernetes.io/pod-name": ["p"] } },
          audiences: ["vault"],
        },
      }),
    );
    const review = await client({ host: api.url, token: "reviewer" }).tokenReview("jwt-value", ["vault"]);
    expect(review.authenticated).toBe(true);
    expect(review.user?.extra?.["authentication.kubernetes.io/pod-name"]).toEqual(["p"]);
    expect(JSON.parse(api.seen[0].body)).toEqual({
      apiVersion: "authentication.k8s.io/v1",
      kind: "TokenReview",
      spec: { token: "jwt-value", audiences: ["vault"] },
    });
  });

  it("treats a review without status as not authenticated and omits empty audiences", async () => {
    const api = await fakeApi((_req, res) => json(res, 201, { kind: "TokenReview" }));
    const review = await client({ host: api.url }).tokenReview("jwt-value", []);
    expect(review.authenticated).toBe(false);
    expect(JSON.parse(api.seen[0].body).spec).toEqual({ token: "jwt-value" });
  });

  it("requests a pod-bound token", async () => {
    const api = await fakeApi((_req, res) =>
      json(res, 201, { status: { token: "issued", expirationTimestamp: "2030-01-01T00:00:00Z" } }),
    );
    const issued = await client({ host: api.url }).createTokenRequest("team a", "sa", {
      audiences: ["latchkey"],
      expirationSeconds: 600,
      boundPod: { name: "p", uid: "1234" },
    });
    expect(issued).toEqual({ token: "issued", expirationTimestamp: "2030-01-01T00:00:00Z" });
    expect(api.seen[0].url).toBe("/api/v1/namespaces/team%20a/serviceaccounts/sa/token");
    expect(JSON.parse(api.seen[0].body)).toEqual({
      apiVersion: "authentication.k8s.io/v1",
      kind: "TokenRequest",
      spec: {
        audiences: ["latchkey"],
        expirationSeconds: 600,
        boundObjectRef: { apiVersion: "v1", kind: "Pod", name: "p", uid: "1234" },
      },
    });
  });

  it("requests a Secret-bound token", async () => {
    const api = await fakeApi((_req, res) =>
      json(res, 201, { status: { token: "issued", expirationTimestamp: "2030-01-01T00:00:00Z" } }),
    );
    await client({ host: api.url }).createTokenRequest("ns", "sa", { boundSecret: { name: "s", uid: "5678" } });
    expect(JSON.parse(api.seen[0].body).spec).toEqual({
      boundObjectRef: { apiVersion: "v1", kind: "Secret", name: "s", uid: "5678" },
    });
  });

  it("refuses a token bound to both a pod and a Secret", async () => {
    const api = await fakeApi((_req, res) => json(res, 201, {}));
    await expect(
      client({ host: api.url }).createTokenRequest("ns", "sa", {
        boundPod: { name: "p", uid: "1" },
        boundSecret: { name: "s", uid: "2" },
      }),
    ).rejects.toThrow("either boundPod or boundSecret");
    expect(api.seen).toHaveLength(0);
  });

  it("reports an unreachable server as KubeUnavailableError", async () => {
    const api = await fakeApi((_req, res) => json(res, 200, {}));
    await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
    const err = await client({ host: api.url, token: "secret-token-value" })
      .get("/api")
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeUnavailableError);
    expect((err as KubeUnavailableError).kind).toBe("network");
    expect((err as Error).message).toContain("ECONNREFUSED");
    expect((err as Error).message).not.toContain("secret-token-value");
    expect(toUpstreamError(err as KubeUnavailableError).status).toBe(503);
  });

  it("times out a request that gets no answer", async () => {
    const api = await fakeApi(() => {
      // never answers
    });
    const err = await client({ host: api.url, timeoutMs: 100 })
      .get("/api")
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeUnavailableError);
    expect(err).toMatchObject({ kind: "timeout", message: "GET /api timed out after 100 ms" });
    expect(toUpstreamError(err as KubeUnavailableError).status).toBe(504);
  });

  it("times out a response whose body stops coming", async () => {
    const api = await fakeApi((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.write('{"kind":');
    });
    const err = await client({ host: api.url, timeoutMs: 100 })
      .get("/api")
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeUnavailableError);
    expect(err).toMatchObject({ kind: "timeout", message: "GET /api timed out after 100 ms" });
  });

  it("passes the caller's abort through unchanged", async () => {
    const api = await fakeApi(() => {
      // never answers
    });
    const controller = new AbortController();
    const pending = client({ host: api.url }).get("/api", { signal: controller.signal });
    setTimeout(() => controller.abort(new Error("caller gave up")), 50);
    await expect(pending).rejects.toThrow("caller gave up");
  });

  it("holds at most maxConcurrent requests in flight", async () => {
    let inFlight = 0;
    let peak = 0;
    const api = await fakeApi((_req, res) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      setTimeout(() => {
        inFlight--;
        json(res, 200, {});
      }, 30);
    });
    const kube = client({ host: api.url, maxConcurrent: 2 });
    await Promise.all(Array.from({ length: 7 }, () => kube.get("/api")));
    expect(api.seen).toHaveLength(7);
    expect(peak).toBe(2);
  });
});
