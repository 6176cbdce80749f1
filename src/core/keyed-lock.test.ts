import { describe, expect, it } from "vitest";
import { createKeyedLock } from "./keyed-lock.js";

const tick = () => new Promise((r) => setTimeout(r, 1));

describe("createKeyedLock", () => {
  it("runs work on one key one at a time, in order", async () => {
    const lock = createKeyedLock();
    const events: string[] = [];
    const job = (name: string) => async () => {
      events.push(`${name} start`);
      await tick();
      events.push(`${name} end`);
      return name;
    };
    const results = await Promise.all([lock.run("k", job("a")), lock.run("k", job("b"))]);
    expect(results).toEqual(["a", "b"]);
    expect(events).toEqual(["a start", "a end", "b start", "b end"]);
  });

  it("lets different keys run together", async () => {
    const lock = createKeyedLock();
    const events: string[] = [];
    const job = (name: string) => async () => {
      events.push(`${name} start`);
      await tick();
      events.push(`${name} end`);
    };
    await Promise.all([lock.run("x", job("a")), lock.run("y", job("b"))]);
    expect(events.slice(0, 2)).toEqual(["a start", "b start"]);
  });

  it("keeps going after a failure and passes the error on", async () => {
    const lock = createKeyedLock();
    const failed = lock.run("k", async () => {
      throw new Error("boom");
    });
    const next = lock.run("k", async () => "ok");
    await expect(failed).rejects.toThrow("boom");
    await expect(next).resolves.toBe("ok");
  });
});
