import { describe, expect, it } from "vitest";
import { LatchkeyError } from "../errors.js";
import { createMemoryStore } from "../../storage/memory.js";
import { createView } from "../../storage/view.js";
import type { StorageView } from "../../storage/types.js";
import { DEFAULT_POLICY_TEXT } from "./builtin.js";
import { createPolicyStore, normalizePolicyName } from "./store.js";

const READ_KV = `path "kv/*" { capabilities = ["read"] }`;
const WRITE_KV = `path "kv/*" { capabilities = ["update"] }`;

/** A view over a fresh memory store that counts reads under `acl/`. */
function countingView(): { view: StorageView; reads: () => number } {
  const base = createView(createMemoryStore(), "sys/policy/");
  let reads = 0;
  const view: StorageView = {
    ...base,
    get: (key) => {
      reads++;
      return base.get(key);
    },
    getJSON: <T>(key: string) => {
      reads++;
      return base.getJSON<T>(key);
    },
  };
  return { view, reads: () => reads };
}

async function rejection(p: Promise<unknown>): Promise<LatchkeyError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof LatchkeyError) return err;
    throw err;
  }
  throw new Error("expected a rejection");
}

describe("policy store", () => {
  it("stores {name, text} under acl/<name>, lower-casing the name", async () => {
    const physical = createMemoryStore();
    const store = createPolicyStore(createView(physical, "sys/policy/"));
    const policy = await store.put("Apps", READ_KV);
    expect(policy.name).toBe("apps");
    expect(await createView(physical).getJSON("sys/policy/acl/apps")).toEqual({ name: "apps", text: READ_KV });
    expect(await store.get("APPS")).toEqual({ name: "apps", text: READ_KV });
    expect(await store.get("missing")).toBeUndefined();
  });

  it("refuses a policy that does not parse, and stores nothing", async () => {
    const store = createPolicyStore(createView(createMemoryStore()));
    const err = await rejection(store.put("bad", `path "kv/*" { capabilities = ["raed"] }`));
    expect(err.status).toBe(400);
    expect(err.message).toContain('policy "bad" line 1: path "kv/*": unknown capability "raed"');
    expect(await store.get("bad")).toBeUndefined();
  });

  it.each(["", "a b", "a/b", "ünïcode", "a+b", "..", "x".repeat(129)])("refuses the name %j", async (name) => {
    const store = createPolicyStore(createView(createMemoryStore()));
    const err = await rejection(store.put(name, READ_KV));
    expect(err.status).toBe(400);
    expect(err.message).toMatch(/^field "name": invalid policy name/);
  });

  it("accepts names of letters, digits, dots, dashes and underscores", () => {
    expect(normalizePolicyName(" Team-A_v1.2 ")).toBe("team-a_v1.2");
  });

  it("protects root and default", async () => {
    const store = createPolicyStore(createView(createMemoryStore()));
    expect((await rejection(store.put("root", READ_KV))).message).toBe('cannot update the "root" policy');
    expect((await rejection(store.delete("ROOT"))).message).toBe('cannot delete the "root" policy');
    expect((await rejection(store.delete("default"))).status).toBe(400);
    expect(await store.get("root")).toEqual({ name: "root", text: "" });
  });

  it("serves the built-in default until an operator rewrites it", async () => {
    const store = createPolicyStore(createView(createMemoryStore()));
    expect(await store.get("default")).toEqual({ name: "default", text: DEFAULT_POLICY_TEXT });
    expect((await store.aclFor(["default"])).check("auth/token/lookup-self", "read").allowed).toBe(true);

    await store.put("default", READ_KV);
    expect(await store.get("default")).toEqual({ name: "default", text: READ_KV });
    const acl = await store.aclFor(["default"]);
    expect(acl.check("auth/token/lookup-self", "read").allowed).toBe(false);
    expect(acl.check("kv/x", "read").allowed).toBe(true);
  });

  it("lists stored names with default and root", async () => {
    const store = createPolicyStore(createView(createMemoryStore()));
    expect(await store.list()).toEqual(["default", "root"]);
    await store.put("zeta", READ_KV);
    await store.put("alpha", READ_KV);
    await store.put("default", READ_KV);
    expect(await store.list()).toEqual(["alpha", "default", "root", "zeta"]);
    await store.delete("zeta");
    expect(await store.list()).toEqual(["alpha", "default", "root"]);
  });

  it("deleting a missing policy is not an error", async () => {
    const store = createPolicyStore(createView(createMemoryStore()));
    await expect(store.delete("never-was")).resolves.toBeUndefined();
  });
});

describe("policy store: aclFor", () => {
  it("ignores names that do not exist and compiles the rest", async () => {
    const store = createPolicyStore(createView(createMemoryStore()));
    await store.put("reader", READ_KV);
    const acl = await store.aclFor(["reader", "ghost", "not a name!"]);
    expect(acl.policies).toEqual(["reader"]);
    expect(acl.check("kv/x", "read").allowed).toBe(true);
    expect((await store.aclFor([])).check("kv/x", "read").allowed).toBe(false);
  });

  it("gives root everything", async () => {
    const store = createPolicyStore(createView(createMemoryStore()));
    const acl = await store.aclFor(["root"]);
    expect(acl.root).toBe(true);
    expect(acl.check("sys/anything", "sudo")).toMatchObject({ allowed: true, sudo: true });
  });

  it("caches per set of names, whatever their order or case", async () => {
    const { view, reads } = countingView();
    const store = createPolicyStore(view);
    await store.put("reader", READ_KV);
    await store.put("writer", WRITE_KV);

    const first = await store.aclFor(["reader", "writer"]);
    const readsAfterFirst = reads();
    expect(await store.aclFor(["writer", "READER", "reader"])).toBe(first);
    expect(reads()).toBe(readsAfterFirst);
    expect(first.check("kv/x", "update").capabilities).toEqual(["read", "update"]);

    // A different set reuses the policies already loaded.
    const onlyReader = await store.aclFor(["reader"]);
    expect(onlyReader).not.toBe(first);
    expect(reads()).toBe(readsAfterFirst);
  });

  it("shares one compile between concurrent callers", async () => {
    const { view, reads } = countingView();
    const store = createPolicyStore(view);
    await store.put("reader", READ_KV);
    const before = reads();
    const [a, b] = await Promise.all([store.aclFor(["reader"]), store.aclFor(["reader"])]);
    expect(a).toBe(b);
    expect(reads() - before).toBe(1);
  });

  it("sees a put at once", async () => {
    const store = createPolicyStore(createView(createMemoryStore()));
    await store.put("app", READ_KV);
    const before = await store.aclFor(["app", "default"]);
    expect(before.check("kv/x", "update").allowed).toBe(false);

    await store.put("app", WRITE_KV);
    const after = await store.aclFor(["app", "default"]);
    expect(after).not.toBe(before);
    expect(after.check("kv/x", "update").allowed).toBe(true);
    expect(after.check("kv/x", "read").allowed).toBe(false);
  });

  it("sees a delete at once", async () => {
    const store = createPolicyStore(createView(createMemoryStore()));
    await store.put("app", READ_KV);
    expect((await store.aclFor(["app"])).check("kv/x", "read").allowed).toBe(true);
    await store.delete("app");
    expect((await store.aclFor(["app"])).check("kv/x", "read").allowed).toBe(false);
  });

  it("sees a policy created after a token named it", async () => {
    const store = createPolicyStore(createView(createMemoryStore()));
    expect((await store.aclFor(["later"])).check("kv/x", "read").allowed).toBe(false);
    await store.put("later", READ_KV);
    expect((await store.aclFor(["later"])).check("kv/x", "read").allowed).toBe(true);
  });

  it("reloads from storage after invalidate, for writes made by another replica", async () => {
    const physical = createMemoryStore();
    const replicaA = createPolicyStore(createView(physical, "sys/policy/"));
    const replicaB = createPolicyStore(createView(physical, "sys/policy/"));
    await replicaA.put("app", READ_KV);
    expect((await replicaB.aclFor(["app"])).check("kv/x", "update").allowed).toBe(false);

    await replicaA.put("app", WRITE_KV);
    expect((await replicaB.aclFor(["app"])).check("kv/x", "update").allowed).toBe(false);
    replicaB.invalidate("app");
    expect((await replicaB.aclFor(["app"])).check("kv/x", "update").allowed).toBe(true);
  });

  it("drops the least recently used ACLs beyond its size", async () => {
    const store = createPolicyStore(createView(createMemoryStore()), { aclCacheSize: 2 });
    await store.put("a", READ_KV);
    await store.put("b", READ_KV);
    await store.put("c", READ_KV);
    const a = await store.aclFor(["a"]);
    const b = await store.aclFor(["b"]);
    expect(await store.aclFor(["a"])).toBe(a); // a is now the most recent
    await store.aclFor(["c"]); // evicts b
    expect(await store.aclFor(["a"])).toBe(a);
    expect(await store.aclFor(["b"])).not.toBe(b);
  });

  it("fails closed, and retries, when a stored policy no longer parses", async () => {
    const physical = createMemoryStore();
    const view = createView(physical, "sys/policy/");
    const store = createPolicyStore(view);
    await view.putJSON("acl/broken", { name: "broken", text: "path {" });
    const err = await rejection(store.aclFor(["broken"]));
    expect(err.status).toBe(500);
    expect(err.message).toMatch(/^stored policy "broken" no longer parses/);

    await view.putJSON("acl/broken", { name: "broken", text: READ_KV });
    expect((await store.aclFor(["broken"])).check("kv/x", "read").allowed).toBe(true);
  });
});
