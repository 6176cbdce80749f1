import YAML from "yaml";
import type { ApiBody } from "./client.js";

export const OUTPUT_FORMATS = ["table", "json", "yaml"] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export function isOutputFormat(value: unknown): value is OutputFormat {
  return typeof value === "string" && (OUTPUT_FORMATS as readonly string[]).includes(value);
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Renders a value for table output as Go's `%v` does: `<nil>`, `[a b]`,
 * `map[k:v]` with sorted keys, so that scripts scraping compatible CLIs' tables keep working.
 */
export function formatValue(value: unknown): string {
  if (value === null || value === undefined) return "<nil>";
  if (typeof value === "string") return value;
  if (Array.isArray(value)) return `[${value.map(formatValue).join(" ")}]`;
  if (isRecord(value)) {
    const entries = Object.keys(value)
      .sort()
      .map((key) => `${key}:${formatValue(value[key])}`);
    return `map[${entries.join(" ")}]`;
  }
  return String(value);
}

/** `["a" "b"]`: how token policies are shown in tables. */
export function formatQuotedList(value: unknown): string {
  const items = Array.isArray(value) ? value : [];
  return `[${items.map((item) => JSON.stringify(formatValue(item))).join(" ")}]`;
}

/** Seconds as a Go-style duration with zero tails trimmed: 2764800 → `768h`, 90 → `1m30s`. */
export function humanDuration(totalSeconds: number): string {
  if (!Number.isFinite(totalSeconds)) return String(totalSeconds);
  const sign = totalSeconds < 0 ? "-" : "";
  let rest = Math.round(Math.abs(totalSeconds));
  if (rest === 0) return "0s";
  const hours = Math.floor(rest / 3600);
  rest -= hours * 3600;
  const minutes = Math.floor(rest / 60);
  const seconds = rest - minutes * 60;
  let text = hours > 0 ? `${hours}h${minutes}m${seconds}s` : minutes > 0 ? `${minutes}m${seconds}s` : `${seconds}s`;
  if (text.endsWith("m0s")) text = text.slice(0, -2);
  if (text.endsWith("h0m")) text = text.slice(0, -2);
  return sign + text;
}

/** Data keys holding a number of seconds (`ttl`, `creation_ttl`, `period`) are shown as durations. */
export function looksLikeDuration(key: string): boolean {
  return key === "ttl" || key.endsWith("_ttl") || key === "period" || key.endsWith("_period") || key.endsWith("_timeout");
}

function durationOrValue(key: string, value: unknown): string {
  if (looksLikeDuration(key)) {
    const seconds = typeof value === "number" ? value : typeof value === "string" && /^-?\d+$/.test(value) ? Number(value) : undefined;
    if (seconds !== undefined) return humanDuration(seconds);
  }
  return formatValue(value);
}

const COLUMN_GLUE = "    ";

/** Aligned columns; the first row is a header underlined with dashes, empty cells read `n/a`. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [header, header.map((title) => "-".repeat(title.length)), ...rows].map((row) =>
    row.map((cell) => (cell.trim() === "" ? "n/a" : cell.trim())),
  );
  const widths: number[] = [];
  for (const row of all) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  const lines = all.map((row) =>
    row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]))).join(COLUMN_GLUE).trimEnd(),
  );
  return `${lines.join("\n")}\n`;
}

/** The two-column `Key  Value` table. */
export function formatKeyValueTable(rows: readonly (readonly [string, string])[]): string {
  return formatTable(["Key", "Value"], rows);
}

/** Rows for a data map, sorted by key; `durations` turns second counts into `768h`-style text. */
export function dataRows(data: Record<string, unknown>, durations = false): [string, string][] {
  return Object.keys(data)
    .sort()
    .map((key) => [key, durations ? durationOrValue(key, data[key]) : formatValue(data[key])]);
}

/** `Keys` column for list responses. */
export function formatKeyList(keys: readonly unknown[]): string {
  return formatTable(["Keys"], keys.map((key) => [formatValue(key)]));
}

export function formatStructured(value: unknown, format: "json" | "yaml"): string {
  if (format === "yaml") return YAML.stringify(value ?? null);
  return `${JSON.stringify(value ?? null, null, 2)}\n`;
}

/**
 * A section title padded with `=` to sit above content `width` characters wide,
 * e.g. `======= Metadata =======`.
 */
export function sectionHeader(title: string, width: number): string {
  const pad = Math.max(2, Math.ceil((width - title.length) / 2) - 1);
  const bar = "=".repeat(pad);
  return `${bar} ${title} ${bar}`;
}

/** Header over a key/value table: sized to the longest key plus the `Value` column. */
export function headerForData(title: string, data: Record<string, unknown>): string {
  const longestKey = Math.max(0, ...Object.keys(data).map((key) => key.length));
  return sectionHeader(title, longestKey + COLUMN_GLUE.length + "Value".length);
}

export function asStringArray(value: unknown): string[] {
  return Array.isArray(value) ? value.map((item) => formatValue(item)) : [];
}

/** The auth block of a response as the named fields that tables and `-field` expose. */
export function authFields(auth: Record<string, unknown>): Record<string, unknown> {
  const duration = typeof auth.lease_duration === "number" ? auth.lease_duration : 0;
  return {
    token: auth.client_token,
    token_accessor: auth.accessor,
    // A zero lease on a token means it never expires (the root token).
    token_duration: duration === 0 ? "∞" : humanDuration(duration),
    token_renewable: auth.renewable,
    token_policies: asStringArray(auth.token_policies ?? auth.policies),
    identity_policies: asStringArray(auth.identity_policies),
    policies: asStringArray(auth.policies),
  };
}

export interface SecretTableOptions {
  /** Leave the token itself out (login shows who you are, not the credential). */
  omitToken?: boolean;
}

/** The table for a response envelope: lease, then auth, then data (sorted). */
export function formatSecretTable(body: ApiBody, options: SecretTableOptions = {}): string {
  const rows: [string, string][] = [];
  const leaseDuration = typeof body.lease_duration === "number" ? body.lease_duration : 0;
  if (typeof body.lease_id === "string" && body.lease_id !== "") {
    rows.push(["lease_id", body.lease_id], ["lease_duration", humanDuration(leaseDuration)], [
      "lease_renewable",
      formatValue(body.renewable ?? false),
    ]);
  } else if (leaseDuration > 0) {
    rows.push(["refresh_interval", humanDuration(leaseDuration)]);
  }
  if (isRecord(body.auth)) {
    const fields = authFields(body.auth);
    for (const [key, value] of Object.entries(fields)) {
      if (key === "token" && options.omitToken) continue;
      const shown = key.endsWith("policies") ? formatQuotedList(value) : formatValue(value);
      rows.push([key, shown]);
    }
    const metadata = isRecord(body.auth.metadata) ? body.auth.metadata : {};
    for (const key of Object.keys(metadata).sort()) rows.push([`token_meta_${key}`, formatValue(metadata[key])]);
  }
  if (isRecord(body.data)) rows.push(...dataRows(body.data, true));
  return rows.length === 0 ? "" : formatKeyValueTable(rows);
}

/** The value `-field=<name>` selects: from data first, then from the auth block. */
export function selectField(body: ApiBody, field: string): unknown {
  if (isRecord(body.data) && body.data[field] !== undefined && body.data[field] !== null) return body.data[field];
  if (isRecord(body.auth)) {
    const value = authFields(body.auth)[field];
    if (value !== undefined && value !== null) return value;
  }
  return undefined;
}

/** A single field printed raw: strings as they are, other values in the chosen format. */
export function formatField(value: unknown, format: OutputFormat): string {
  if (format === "json") return JSON.stringify(value, null, 2);
  if (format === "yaml") return YAML.stringify(value).trimEnd();
  return formatValue(value);
}

/** Warnings from the server, shown on stderr so that stdout stays parseable. */
export function formatWarnings(body: ApiBody | undefined): string {
  const warnings = asStringArray(body?.warnings);
  if (warnings.length === 0) return "";
  return `WARNING! The following warnings were returned from latchkey:\n\n${warnings.map((w) => `  * ${w}`).join("\n")}\n\n`;
}
