/**
 * Looks for known plaintext values where they must never be: database files,
 * logs, audit logs, error messages. Each value is searched raw and in the
 * encodings a careless writer would use (base64, base64url, hex).
 *
 *   const report = scanForPlaintext([{ name: "root token", value: root }], [...sqliteFiles(db), textSink("log", out)]);
 *   expect(report.found).toEqual([]);
 */
import { existsSync, readFileSync } from "node:fs";

export interface Needle {
  name: string;
  /** A string is searched as its UTF-8 bytes; a Buffer (a raw key) as itself. */
  value: string | Buffer;
}

export interface Sink {
  name: string;
  bytes: Buffer;
}

export const ENCODINGS: Record<string, (value: Buffer) => Buffer> = {
  raw: (v) => v,
  base64: (v) => Buffer.from(v.toString("base64")),
  base64url: (v) => Buffer.from(v.toString("base64url")),
  hex: (v) => Buffer.from(v.toString("hex")),
};

export interface ScanReport {
  /** Values × encodings × sinks searched. */
  checked: number;
  /** `<value> (<encoding>) in <sink>` for every hit. */
  found: string[];
}

/** Every value in every encoding in every sink. A value shorter than 8 bytes would match by chance and is refused. */
export function scanForPlaintext(needles: readonly Needle[], sinks: readonly Sink[]): ScanReport {
  const found: string[] = [];
  let checked = 0;
  for (const needle of needles) {
    const value = typeof needle.value === "string" ? Buffer.from(needle.value) : needle.value;
    if (value.length < 8) throw new Error(`"${needle.name}" is too short to scan for (${value.length} bytes)`);
    for (const [encoding, encode] of Object.entries(ENCODINGS)) {
      const form = encode(value);
      for (const sink of sinks) {
        checked++;
        if (sink.bytes.includes(form)) found.push(`${needle.name} (${encoding}) in ${sink.name}`);
      }
    }
  }
  return { checked, found };
}

/** The SQLite database's files as they are on disk: the main file, its WAL and shared-memory index, each a sink. */
export function sqliteFiles(dbPath: string, label = "sqlite"): Sink[] {
  return ["", "-wal", "-shm"]
    .map((suffix) => dbPath + suffix)
    .filter(existsSync)
    .map((file) => ({ name: `${label} ${file.slice(dbPath.length) || "main"}`, bytes: readFileSync(file) }));
}

export function textSink(name: string, text: string): Sink {
  return { name, bytes: Buffer.from(text) };
}

/** The parts of a PEM worth searching for: its first base64 line (a fragment no other text shares) and its DER. */
export function pemNeedles(name: string, pem: string): Needle[] {
  const lines = pem.trim().split("\n").filter((l) => !l.startsWith("-----"));
  return [
    { name: `${name} (PEM line)`, value: lines[0] },
    { name: `${name} (DER)`, value: Buffer.from(lines.join(""), "base64") },
  ];
}
