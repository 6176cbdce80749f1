import { badRequest } from "../errors.js";
const UNIT_SECONDS = { ms: 0.001, s: 1, m: 60, h: 3600 };
const GO_DURATION = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h))+$/;
const GO_PART = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
/**
 * Parses a Vault-style duration into whole seconds, as Vault's
 * `parseutil.ParseDurationSecond` does: a number of seconds (JSON number or
 * integer string), a Go duration built from `h`, `m`, `s`, `ms` parts
 * (`"2h30m"`, `"1.5h"`), or a whole number of days (`"7d"`). Fractions of a
 * second are dropped. `undefined`, `null` and `""` mean "not set" and give 0.
 * Anything else, including negatives, is a 400 that names `field`.
 */
export function parseDuration(value, field) {
    if (value === undefined || value === null || value === "")
        return 0;
    const seconds = typeof value === "number" ? value : typeof value === "string" ? parseText(value.trim()) : NaN;
    if (!Number.isFinite(seconds) || seconds < 0 || seconds > Number.MAX_SAFE_INTEGER) {
        throw badRequest(`field "${field}" must be a duration such as "30s", "5m", "1h" or a number of seconds`);
    }
    return Math.floor(seconds);
}
function parseText(text) {
    if (/^\d+$/.test(text))
        return Number(text);
    const days = /^(\d+)d$/.exec(text);
    if (days)
        return Number(days[1]) * 86_400;
    if (!GO_DURATION.test(text))
        return NaN;
    let total = 0;
    for (const [, amount, unit] of text.matchAll(GO_PART))
        total += Number(amount) * UNIT_SECONDS[unit];
    return total;
}
