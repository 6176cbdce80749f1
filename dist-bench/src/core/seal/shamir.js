import { randomBytes, randomInt } from "node:crypto";
import { badRequest } from "../errors.js";
/**
 * Shamir's secret sharing over GF(2^8), laid out as Vault lays it out: each
 * part is the polynomial values for every secret byte followed by the part's
 * x coordinate as a trailing byte. The field is AES's (x^8+x^4+x^3+x+1).
 */
/** Checks an unseal-key configuration; messages name the sys/init fields. */
export function checkSplitParams(shares, threshold) {
    if (!Number.isInteger(shares) || !Number.isInteger(threshold)) {
        throw badRequest("secret_shares and secret_threshold must be integers");
    }
    if (shares < 1)
        throw badRequest("secret_shares must be at least 1");
    if (threshold < 1)
        throw badRequest("secret_threshold must be at least 1");
    if (shares > 255)
        throw badRequest("secret_shares must be at most 255");
    if (threshold > shares)
        throw badRequest("secret_threshold cannot be larger than secret_shares");
    if (shares > 1 && threshold < 2)
        throw badRequest("secret_threshold must be at least 2 when secret_shares is more than 1");
}
/** Splits `secret` into `shares` parts, any `threshold` of which recover it. */
export function split(secret, shares, threshold) {
    checkSplitParams(shares, threshold);
    if (secret.length === 0)
        throw badRequest("cannot split an empty secret");
    const xs = randomCoordinates(shares);
    const parts = xs.map((x) => {
        const part = new Uint8Array(secret.length + 1);
        part[secret.length] = x;
        return part;
    });
    const coefficients = new Uint8Array(threshold);
    for (let i = 0; i < secret.length; i++) {
        coefficients[0] = secret[i];
        randomBytes(threshold - 1).copy(coefficients, 1);
        for (const part of parts)
            part[i] = evaluate(coefficients, part[secret.length]);
    }
    coefficients.fill(0);
    return parts;
}
/** Recovers the secret from parts made by `split`; fewer than the threshold yield an unrelated value. */
export function combine(parts) {
    if (parts.length === 0)
        throw badRequest("no unseal key parts to combine");
    const length = parts[0].length;
    if (length < 2)
        throw badRequest("unseal key parts are too short");
    if (parts.some((p) => p.length !== length))
        throw badRequest("unseal key parts differ in length");
    const xs = parts.map((p) => p[length - 1]);
    if (xs.includes(0))
        throw badRequest("invalid unseal key part");
    if (new Set(xs).size !== xs.length)
        throw badRequest("duplicate unseal key part");
    // Lagrange basis at x = 0: w_j = prod_{m != j} x_m / (x_m - x_j); subtraction is XOR in GF(2^8).
    const weights = xs.map((xj, j) => xs.reduce((w, xm, m) => (m === j ? w : mul(w, div(xm, xm ^ xj))), 1));
    const secret = new Uint8Array(length - 1);
    for (let i = 0; i < secret.length; i++) {
        let value = 0;
        for (let j = 0; j < parts.length; j++)
            value ^= mul(parts[j][i], weights[j]);
        secret[i] = value;
    }
    return secret;
}
/** Distinct random x coordinates in 1..255 (x = 0 would be the secret itself). */
function randomCoordinates(count) {
    const all = Array.from({ length: 255 }, (_, i) => i + 1);
    for (let i = all.length - 1; i > 0; i--) {
        const j = randomInt(i + 1);
        [all[i], all[j]] = [all[j], all[i]];
    }
    return all.slice(0, count);
}
/** Horner's rule: coefficients[0] + coefficients[1]·x + … */
function evaluate(coefficients, x) {
    let y = 0;
    for (let k = coefficients.length - 1; k >= 0; k--)
        y = mul(y, x) ^ coefficients[k];
    return y;
}
/** Multiplication without lookup tables indexed by secret bytes (no cache-timing leak), as Vault's. */
function mul(a, b) {
    let r = 0;
    for (let i = 7; i >= 0; i--) {
        r = ((-((b >> i) & 1) & a) ^ (-(r >> 7) & 0x1b) ^ (r << 1)) & 0xff;
    }
    return r;
}
/** a / b = a · b^254, since b^255 = 1 for every non-zero b. */
function div(a, b) {
    let inverse = 1;
    let power = b;
    for (let e = 254; e > 0; e >>= 1) {
        if (e & 1)
            inverse = mul(inverse, power);
        power = mul(power, power);
    }
    return mul(a, inverse);
}
