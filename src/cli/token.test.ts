import { describe, expect, it } from "vitest";
import { runLatchkey, useFakeLatchkey } from "./test-support.js";

const created = {
  request_id: "r",
  lease_id: "",
  renewable: false,
  lease_duration: 0,
  data: null,
  warnings: null,
  auth: {
    client_token: "lks.child",
    accessor: "acc-child",
    policies: ["default", "dev"],
    token_policies: ["default", "dev"],
    metadata: { team: "a" },
    lease_duration: 1800,
    renewable: true,
  },
};

describe("token", () => {
  const fake = useFakeLatchkey({ token: "lks.parent" });

  it("create sends every flag in API form and prints the auth table", async () => {
    fake.server.on("PUT", "auth/token/create", { body: created });
    const result = await runLatchkey(
      [
        "token",
        "create",
        "-policy=dev",
        "-policy",
        "ops,audit",
        "-ttl=30m",
        "-explicit-max-ttl=2h",
        "-period=1h",
        "-use-limit=3",
        "-orphan",
        "-type=service",
        "-metadata",
        "team=a",
        "-metadata=env=prod",
        "-display-name=ci",
      ],
      { env: fake.env },
    );
    expect(result.code).toBe(0);
    expect(fake.server.requests[0].body).toEqual({
      policies: ["dev", "ops", "audit"],
      ttl: "30m",
      explicit_max_ttl: "2h",
      period: "1h",
      num_uses: 3,
      no_parent: true,
      type: "service",
      meta: { team: "a", env: "prod" },
      display_name: "ci",
    });
    expect(result.stdout.split("\n")).toEqual([
      "Key                  Value",
      "---                  -----",
      "token                lks.child",
      "token_accessor       acc-child",
      "token_duration       30m",
      "token_renewable      true",
      'token_policies       ["default" "dev"]',
      "identity_policies    []",
      'policies             ["default" "dev"]',
      "token_meta_team      a",
      "",
    ]);
  });

  it("create with no flags sends an empty body; -field=token prints just the token", async () => {
    fake.server.on("PUT", "auth/token/create", { body: created });
    expect(await runLatchkey(["token", "create", "-field=token"], { env: fake.env })).toEqual({ code: 0, stdout: "lks.child", stderr: "" });
    expect(fake.server.requests[0].body).toEqual({});
  });

  it("create rejects an unknown type and a bad use limit", async () => {
    expect((await runLatchkey(["token", "create", "-type=weird"], { env: fake.env })).code).toBe(2);
    expect((await runLatchkey(["token", "create", "-use-limit=x"], { env: fake.env })).code).toBe(2);
    expect(fake.server.requests).toHaveLength(0);
  });

  it("lookup without argument looks up the caller's token", async () => {
    fake.server.on("GET", "auth/token/lookup-self", { body: { data: { accessor: "acc", ttl: 60, creation_ttl: 3600 } } });
    const result = await runLatchkey(["token", "lookup"], { env: fake.env });
    expect(result.stdout).toContain("creation_ttl    1h\n");
    expect(result.stdout).toContain("ttl             1m\n");
  });

  it("lookup of another token or accessor", async () => {
    fake.server.on("PUT", "auth/token/lookup", { body: { data: { accessor: "acc" } } });
    fake.server.on("PUT", "auth/token/lookup-accessor", { body: { data: { accessor: "acc" } } });
    await runLatchkey(["token", "lookup", "lks.other"], { env: fake.env });
    await runLatchkey(["token", "lookup", "-accessor", "acc"], { env: fake.env });
    expect(fake.server.requests.map((r) => [r.path, r.body])).toEqual([
      ["auth/token/lookup", { token: "lks.other" }],
      ["auth/token/lookup-accessor", { accessor: "acc" }],
    ]);
  });

  it("lookup errors never show the token looked up", async () => {
    fake.server.on("PUT", "auth/token/lookup", { status: 403, body: { errors: ["bad token"] } });
    const result = await runLatchkey(["token", "lookup", "lks.other"], { env: fake.env });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^Error looking up token: /);
    expect(result.stderr).not.toContain("lks.other");
    expect(result.stderr).not.toContain("lks.parent");
  });

  it("renew self or another token, with -increment", async () => {
    fake.server.on("PUT", "auth/token/renew-self", { body: created });
    fake.server.on("PUT", "auth/token/renew", { body: created });
    await runLatchkey(["token", "renew", "-increment=1h"], { env: fake.env });
    await runLatchkey(["token", "renew", "lks.other"], { env: fake.env });
    expect(fake.server.requests.map((r) => [r.path, r.body])).toEqual([
      ["auth/token/renew-self", { increment: "1h" }],
      ["auth/token/renew", { token: "lks.other" }],
    ]);
  });

  it("revoke a token, an accessor, or itself", async () => {
    for (const path of ["revoke", "revoke-accessor", "revoke-self"]) fake.server.on("PUT", `auth/token/${path}`, { status: 204 });
    const results = [
      await runLatchkey(["token", "revoke", "lks.other"], { env: fake.env }),
      await runLatchkey(["token", "revoke", "-accessor", "acc"], { env: fake.env }),
      await runLatchkey(["token", "revoke", "-self"], { env: fake.env }),
    ];
    expect(results.map((r) => r.stdout)).toEqual(Array(3).fill("Success! Revoked token (if it existed)\n"));
    expect(fake.server.requests.map((r) => [r.path, r.body])).toEqual([
      ["auth/token/revoke", { token: "lks.other" }],
      ["auth/token/revoke-accessor", { accessor: "acc" }],
      ["auth/token/revoke-self", {}],
    ]);
  });

  it("revoke needs a target, and -self takes none", async () => {
    expect(await runLatchkey(["token", "revoke"], { env: fake.env })).toEqual({
      code: 2,
      stdout: "",
      stderr: "Give a token, -accessor <accessor>, or -self\n",
    });
    expect((await runLatchkey(["token", "revoke", "-self", "lks.x"], { env: fake.env })).code).toBe(2);
    expect(fake.server.requests).toHaveLength(0);
  });
});
