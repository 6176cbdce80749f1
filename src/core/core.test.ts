import { describe, expect, it } from "vitest";
import { recordingLogger } from "../auth/kubernetes/test-harness.js";
import { createMemoryStore } from "../storage/memory.js";
import { createCore } from "./core.js";
import type { Backend, BackendFactory } from "./types.js";

/** An auth method whose login grants whatever policies it is told to: a misconfigured or hostile backend. */
const grantingBackend =
  (policies: string[]): BackendFactory =>
  (): Backend => ({
    paths: [
      {
        pattern: "login",
        unauthenticated: true,
        ops: { update: async () => ({ auth: { policies, metadata: {}, ttl: 60, renewable: true } }) },
      },
    ],
  });

async function coreWith(policies: string[]) {
  const core = createCore({
    physical: createMemoryStore(),
    seal: { type: "shamir" },
    storageType: "memory",
    logger: recordingLogger(),
    backends: { mounts: {}, auth: { granting: grantingBackend(policies) } },
  });
  await core.initialize({ secretShares: 1, secretThreshold: 1 });
  await core.services.mounts.enable("auth", "granting", { type: "granting" });
  const login = () => core.handle({ method: "POST", path: "auth/granting/login", query: {}, body: {}, remoteAddress: "127.0.0.1" });
  return { core, login };
}

describe("tokens issued for an auth method's login", () => {
  it.each([["root"], ["Root"], [" root "], ["default", "root"]])("never carry the root policy: %j", async (...policies) => {
    const { core, login } = await coreWith(policies);
    const res = await login();
    expect(res.status).toBe(403);
    expect(res.body).toEqual({ errors: ["permission denied: auth methods cannot create root tokens"] });
    await core.close();
  });

  it("are issued for other policies", async () => {
    const { core, login } = await coreWith(["app"]);
    const res = await login();
    expect(res.status).toBe(200);
    await core.close();
  });
});

describe("the request a backend handles", () => {
  it("reads the API request's signal only when the backend does", async () => {
    const seen: (AbortSignal | undefined)[] = [];
    const factory: BackendFactory = (): Backend => ({
      paths: [
        { pattern: "quiet", unauthenticated: true, ops: { update: async () => ({ data: {} }) } },
        { pattern: "calls-out", unauthenticated: true, ops: { update: async (req) => (seen.push(req.signal), { data: {} }) } },
      ],
    });
    const core = createCore({
      physical: createMemoryStore(),
      seal: { type: "shamir" },
      storageType: "memory",
      logger: recordingLogger(),
      backends: { mounts: {}, auth: { probe: factory } },
    });
    await core.initialize({ secretShares: 1, secretThreshold: 1 });
    await core.services.mounts.enable("auth", "probe", { type: "probe" });
    const controller = new AbortController();
    let reads = 0;
    const request = (path: string) => ({
      method: "POST",
      path,
      query: {},
      body: {},
      remoteAddress: "127.0.0.1",
      get signal() {
        reads++;
        return controller.signal;
      },
    });
    expect((await core.handle(request("auth/probe/quiet"))).status).toBe(200);
    expect(reads).toBe(0);
    expect((await core.handle(request("auth/probe/calls-out"))).status).toBe(200);
    expect(reads).toBe(1);
    expect(seen).toEqual([controller.signal]);
    await core.close();
  });
});
