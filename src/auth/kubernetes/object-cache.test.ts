import { describe, expect, it } from "vitest";
import { createMemoryStore } from "../../storage/memory.js";
import type { StorageView } from "../../storage/types.js";
import { createView } from "../../storage/view.js";
import { createLoginObjects } from "./object-cache.js";
import { EMPTY_ROLE } from "./path-role.js";
import { putRole } from "./store.js";

/** The mount's view, counting reads; `hold` keeps the next read waiting until released. */
function countingView() {
  const inner = createView(createMemoryStore(), "auth/kubernetes/");
  const state = { reads: 0, hold: undefined as Promise<void> | undefined };
  const view: StorageView = {
    ...inner,
    async getJSON<T>(key: string) {
      state.reads++;
      const value = await inner.getJSON<T>(key);
      if (state.hold) await state.hold;
      return value;
    },
  };
  return { view, state };
}

const role = (namespaces: string[]) => ({ ...EMPTY_ROLE, boundServiceAccountNamespaces: namespaces });

describe("login objects", () => {
  it("reads a role once, frozen, until a write drops it", async () => {
    const { view, state } = countingView();
    const objects = createLoginObjects({ enabled: true });
    await putRole(view, "app", role(["default"]));
    const first = await objects.role(view, "app");
    expect(await objects.role(view, "app")).toBe(first);
    expect(state.reads).toBe(1);
    expect(Object.isFrozen(first?.boundServiceAccountNamespaces)).toBe(true);
    objects.changing();
    await putRole(view, "app", role(["other"]));
    objects.changing();
    expect((await objects.role(view, "app"))?.boundServiceAccountNamespaces).toEqual(["other"]);
    expect(state.reads).toBe(2);
  });

  it("does not keep a read that was in flight while a write ran", async () => {
    const { view, state } = countingView();
    const objects = createLoginObjects({ enabled: true });
    await putRole(view, "app", role(["default"]));
    let release!: () => void;
    state.hold = new Promise((resolve) => (release = resolve));
    const stale = objects.role(view, "app");
    objects.changing();
    await putRole(view, "app", role(["other"]));
    objects.changing();
    release();
    state.hold = undefined;
    expect((await stale)?.boundServiceAccountNamespaces).toEqual(["default"]);
    expect((await objects.role(view, "app"))?.boundServiceAccountNamespaces).toEqual(["other"]);
  });

  it("keeps nothing when disabled (replicas share the storage)", async () => {
    const { view, state } = countingView();
    const objects = createLoginObjects({ enabled: false });
    await putRole(view, "app", role(["default"]));
    await objects.role(view, "app");
    await objects.role(view, "app");
    expect(state.reads).toBe(2);
  });
});
