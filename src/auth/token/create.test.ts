import { describe, expect, it } from "vitest";
import { failure, tokenBackendHarness } from "./test-harness.js";

const HOUR = 3600;

describe("create by sudo callers", () => {
  it("lets a sudo caller set policies outside its own, with default added even if it lacks default", async () => {
    const { create, call } = await tokenBackendHarness();
    const parent = await create({ policies: ["web"], no_default_policy: true });
    expect(parent.entry.policies).toEqual(["web"]);
    expect(await failure(call("create", "update", { policies: ["db"] }, parent))).toEqual({
      status: 400,
      message: "child policies must be subset of parent",
    });
    const child = await create({ policies: ["db", "admin"] }, { ...parent, sudo: true });
    expect(child.entry).toMatchObject({ policies: ["admin", "db", "default"], parentKey: parent.entry.key, orphan: false });
    const lean = await create({ policies: ["db"], no_default_policy: true }, { ...parent, sudo: true });
    expect(lean.entry.policies).toEqual(["db"]);
  });

  it("gives a sudo caller's child its policies as they are when it names none", async () => {
    const { create } = await tokenBackendHarness();
    const parent = await create({ policies: ["web"], no_default_policy: true });
    expect((await create({}, { ...parent, sudo: true })).entry.policies).toEqual(["web"]);
  });

  it("never lets sudo create a root token; only a root parent can", async () => {
    const { create, call } = await tokenBackendHarness();
    const parent = await create({ policies: ["web"] });
    const sudo = { ...parent, sudo: true };
    const refused = { status: 400, message: "root tokens may not be created without parent token being root" };
    expect(await failure(call("create", "update", { policies: ["root"] }, sudo))).toEqual(refused);
    expect(await failure(call("create-orphan", "update", { policies: ["web", "root"] }, sudo))).toEqual(refused);
    expect((await create({ policies: ["root"] })).entry.policies).toEqual(["root"]);
  });

  it("create-orphan applies the subset rule to callers without sudo", async () => {
    const { create, call } = await tokenBackendHarness();
    const parent = await create({ policies: ["web"] });
    expect(await failure(call("create-orphan", "update", { policies: ["db"] }, parent))).toEqual({
      status: 400,
      message: "child policies must be subset of parent",
    });
    const orphan = await create({ policies: ["web"] }, parent, "create-orphan");
    expect(orphan.entry).toMatchObject({ orphan: true, policies: ["default", "web"], path: "auth/token/create-orphan" });
    expect(orphan.entry.parentKey).toBeUndefined();
    const wide = await create({ policies: ["db"] }, { ...parent, sudo: true }, "create-orphan");
    expect(wide.entry).toMatchObject({ orphan: true, policies: ["db", "default"] });
  });
});

describe("create: limits that children cannot escape", () => {
  it("refuses children of a limited-use token", async () => {
    const { create, call } = await tokenBackendHarness();
    const limited = await create({ policies: ["web"], num_uses: 5 });
    const refused = { status: 400, message: "restricted use token cannot generate child tokens" };
    expect(await failure(call("create", "update", {}, limited))).toEqual(refused);
    expect(await failure(call("create-orphan", "update", {}, { ...limited, sudo: true }))).toEqual(refused);
  });

  it("binds a child to its parent's CIDRs; an orphan is not bound", async () => {
    const { h, create } = await tokenBackendHarness();
    const parent = await h.tokens.create({
      policies: ["web"],
      path: "auth/token/create",
      noParent: true,
      boundCidrs: ["10.0.0.0/8"],
    });
    const caller = { ...parent, sudo: true };
    expect((await create({}, caller)).entry.boundCidrs).toEqual(["10.0.0.0/8"]);
    expect((await create({}, caller, "create-orphan")).entry.boundCidrs).toBeUndefined();
    expect((await create({ no_parent: true }, caller)).entry.boundCidrs).toBeUndefined();
  });

  it("refuses entity_alias outside a token role", async () => {
    const { call } = await tokenBackendHarness();
    expect(await failure(call("create", "update", { entity_alias: "ada" }))).toEqual({
      status: 400,
      message: "'entity_alias' is only allowed in combination with token role",
    });
  });

  it("keeps a sudo caller's periodic token periodic", async () => {
    const { create } = await tokenBackendHarness();
    const parent = await create({ policies: ["web"] });
    const periodic = await create({ period: "2h", ttl: "10m" }, { ...parent, sudo: true });
    expect(periodic.entry).toMatchObject({ period: 2 * HOUR, ttl: 2 * HOUR });
  });
});
