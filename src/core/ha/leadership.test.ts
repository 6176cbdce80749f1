import { describe, expect, it } from "vitest";
import { alwaysLeader, whileLeader, type Leadership } from "./leadership.js";

/** A leadership the test hands over by hand. */
function manualLeadership(initial: boolean) {
  let leader = initial;
  const listeners = new Set<(leader: boolean) => void>();
  const leadership: Leadership = {
    haEnabled: true,
    isLeader: () => leader,
    onChange(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
  };
  const set = (value: boolean) => {
    leader = value;
    for (const fn of listeners) fn(value);
  };
  return { leadership, set, listeners };
}

describe("whileLeader", () => {
  it("runs the work at once on the single server and stops it on release", async () => {
    const events: string[] = [];
    const release = whileLeader(alwaysLeader, () => events.push("start"), async () => void events.push("stop"));
    await new Promise((resolve) => setImmediate(resolve));
    expect(events).toEqual(["start"]);
    await release();
    expect(events).toEqual(["start", "stop"]);
  });

  it("starts on gaining the leadership, stops on losing it, and never runs two terms at once", async () => {
    const { leadership, set, listeners } = manualLeadership(false);
    const events: string[] = [];
    let finishStop = () => {};
    const release = whileLeader(
      leadership,
      () => events.push("start"),
      () => {
        events.push("stop");
        return new Promise<void>((resolve) => (finishStop = resolve));
      },
    );
    await Promise.resolve();
    expect(events).toEqual([]);
    set(true);
    await new Promise((resolve) => setImmediate(resolve));
    expect(events).toEqual(["start"]);
    set(false);
    set(true);
    await new Promise((resolve) => setImmediate(resolve));
    // The new term waits for the old one's work to finish.
    expect(events).toEqual(["start", "stop"]);
    finishStop();
    await new Promise((resolve) => setImmediate(resolve));
    expect(events).toEqual(["start", "stop", "start"]);
    const released = release();
    await new Promise((resolve) => setImmediate(resolve));
    finishStop();
    await released;
    expect(events).toEqual(["start", "stop", "start", "stop"]);
    expect(listeners.size).toBe(0);
  });
});
