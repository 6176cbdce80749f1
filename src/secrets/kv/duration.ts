import { badRequest } from "../../core/errors.js";

const unitSeconds: Record<string, number> = {
  ns: 1e-9,
  us: 1e-6,
  "µs": 1e-6,
  "μs": 1e-6,
  ms: 1e-3,
  s: 1,
  m: 60,
  h: 3600,
  d: 86400,
};

const term = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h|d)/y;

/**
 * Parses a duration the way Vault's `delete_version_after` accepts it: a Go
 * duration string (`"3h25m19s"`, `"1.5h"`, `"0s"`), a bare number of seconds
 * (`"90"` or `90`), or `"<n>d"` days. Returns seconds; the message names `field`.
 */
export function parseDurationSeconds(value: unknown, field: string): number {
  if (typeof value === "number" && Number.isFinite(value)) return value;
  if (typeof value !== "string") throw invalidDuration(field);
  const text = value.trim();
  if (/^-?\d+$/.test(text)) return Number(text);
  const negative = text.startsWith("-");
  const body = negative || text.startsWith("+") ? text.slice(1) : text;
  if (body === "0") return 0;
  if (body === "") throw invalidDuration(field);
  let seconds = 0;
  term.lastIndex = 0;
  while (term.lastIndex < body.length) {
    const start = term.lastIndex;
    const match = term.exec(body);
    if (!match || match.index !== start) throw invalidDuration(field);
    seconds += Number(match[1]) * unitSeconds[match[2]];
  }
  return negative ? -seconds : seconds;
}

const invalidDuration = (field: string) =>
  badRequest(`field "${field}" must be a duration such as "30s", "1h30m" or a number of seconds`);

/** Renders seconds as Go's `time.Duration.String()` does, because Vault clients see `"0s"`, `"1h0m0s"`. */
export function formatDuration(seconds: number): string {
  if (seconds === 0) return "0s";
  const sign = seconds < 0 ? "-" : "";
  const abs = Math.abs(seconds);
  if (abs < 1) {
    const ns = Math.round(abs * 1e9);
    if (ns < 1e3) return `${sign}${ns}ns`;
    if (ns < 1e6) return `${sign}${trimFraction(ns / 1e3)}µs`;
    return `${sign}${trimFraction(ns / 1e6)}ms`;
  }
  const whole = Math.floor(abs);
  const fraction = Math.round((abs - whole) * 1e9);
  const h = Math.floor(whole / 3600);
  const m = Math.floor((whole % 3600) / 60);
  const s = whole % 60;
  const sText = fraction === 0 ? `${s}` : `${s}.${String(fraction).padStart(9, "0").replace(/0+$/, "")}`;
  if (h > 0) return `${sign}${h}h${m}m${sText}s`;
  if (m > 0) return `${sign}${m}m${sText}s`;
  return `${sign}${sText}s`;
}

const trimFraction = (n: number) => String(Number(n.toFixed(6)));
