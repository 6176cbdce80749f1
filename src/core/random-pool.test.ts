import { describe, expect, it } from "vitest";
import { publicRandomBytes } from "./random-pool.js";

describe("publicRandomBytes", () => {
  it("gives distinct values across many refills of the pool", () => {
    const seen = new Set<string>();
    // 12-byte nonces, well past several 4 KiB refills.
    for (let i = 0; i < 5000; i++) seen.add(publicRandomBytes(12).toString("hex"));
    expect(seen.size).toBe(5000);
  });

  it("returns copies: later draws and refills never change what was handed out", () => {
    const a = publicRandomBytes(16);
    const copy = Buffer.from(a);
    for (let i = 0; i < 1000; i++) publicRandomBytes(12);
    expect(a.equals(copy)).toBe(true);
    a.fill(0);
    expect(publicRandomBytes(16).equals(Buffer.alloc(16))).toBe(false);
  });

  it("spreads its bytes over the whole range", () => {
    const counts = new Array<number>(256).fill(0);
    for (let i = 0; i < 64; i++) for (const byte of publicRandomBytes(4096)) counts[byte]++;
    // 1,024 expected per value; a stuck or truncated source would leave values far off it.
    expect(Math.min(...counts)).toBeGreaterThan(800);
    expect(Math.max(...counts)).toBeLessThan(1250);
  });

  it("refuses a request larger than the pool", () => {
    expect(() => publicRandomBytes(4097)).toThrow(RangeError);
  });
});
