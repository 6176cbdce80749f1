import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { combine, split } from "./shamir.js";

/** Every subset of `items` with exactly `size` members. */
function subsets<T>(items: T[], size: number): T[][] {
  if (size === 0) return [[]];
  if (items.length < size) return [];
  const [first, ...rest] = items;
  return [...subsets(rest, size - 1).map((s) => [first, ...s]), ...subsets(rest, size)];
}

describe("shamir", () => {
  it("recovers the secret from every subset of at least the threshold, for n up to 6", () => {
    for (let n = 1; n <= 6; n++) {
      for (let t = n === 1 ? 1 : 2; t <= n; t++) {
        const secret = randomBytes(32);
        const parts = split(secret, n, t);
        expect(parts).toHaveLength(n);
        for (let size = t; size <= n; size++) {
          for (const subset of subsets(parts, size)) expect(Buffer.from(combine(subset))).toEqual(secret);
        }
      }
    }
  });

  it("recovers nothing useful from threshold - 1 parts", () => {
    for (let n = 2; n <= 6; n++) {
      for (let t = 2; t <= n; t++) {
        const secret = randomBytes(32);
        const parts = split(secret, n, t);
        for (const subset of subsets(parts, t - 1)) {
          if (subset.length === 0) continue;
          expect(Buffer.from(combine(subset)).equals(secret)).toBe(false);
        }
      }
    }
  });

  it("lays parts out as Vault does: one byte per secret byte, then a distinct non-zero x coordinate", () => {
    const parts = split(randomBytes(32), 255, 3);
    expect(parts.every((p) => p.length === 33)).toBe(true);
    const xs = parts.map((p) => p[32]);
    expect(new Set(xs).size).toBe(255);
    expect(xs).not.toContain(0);
  });

  it("works for any secret length and for the largest configuration", () => {
    for (const length of [1, 2, 16, 64]) {
      const secret = randomBytes(length);
      const parts = split(secret, 255, 255);
      expect(Buffer.from(combine(parts))).toEqual(secret);
    }
  });

  it("agrees with a share computed by hand in GF(2^8)", () => {
    // Known answer: with threshold 2, two parts y1 = s ^ a·x1, y2 = s ^ a·x2 recover s.
    // s = 0x53, a = 0xCA, x1 = 1, x2 = 2: 0xCA·2 = 0x8F (0x194 reduced by 0x11B).
    const secret = combine([new Uint8Array([0x53 ^ 0xca, 1]), new Uint8Array([0x53 ^ 0x8f, 2])]);
    expect([...secret]).toEqual([0x53]);
  });

  it.each([
    [0, 0, "secret_shares must be at least 1"],
    [3, 0, "secret_threshold must be at least 1"],
    [256, 2, "secret_shares must be at most 255"],
    [3, 4, "secret_threshold cannot be larger than secret_shares"],
    [3, 1, "secret_threshold must be at least 2 when secret_shares is more than 1"],
    [2.5, 2, "secret_shares and secret_threshold must be integers"],
  ])("rejects %d shares with threshold %d", (shares, threshold, message) => {
    expect(() => split(randomBytes(32), shares, threshold)).toThrow(message);
  });

  it("rejects an empty secret", () => {
    expect(() => split(new Uint8Array(0), 3, 2)).toThrow("cannot split an empty secret");
  });

  it("rejects malformed parts", () => {
    const parts = split(randomBytes(32), 3, 2);
    expect(() => combine([])).toThrow("no unseal key parts to combine");
    expect(() => combine([parts[0], parts[0]])).toThrow("duplicate unseal key part");
    expect(() => combine([parts[0], parts[1].subarray(1)])).toThrow("unseal key parts differ in length");
    expect(() => combine([new Uint8Array([7])])).toThrow("unseal key parts are too short");
    expect(() => combine([parts[0], new Uint8Array(33)])).toThrow("invalid unseal key part");
  });
});
