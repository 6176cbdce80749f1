import { randomBytes } from "node:crypto";
import type { StorageView } from "../storage/types.js";
import type { createAuditBroker } from "./audit/broker.js";
import { createFileAuditDevice } from "./audit/file.js";
import { badRequest } from "./errors.js";
import { createKeyedLock } from "./keyed-lock.js";
import type { Logger } from "./types.js";

interface AuditDeviceEntry {
  path: string;
  type: "file";
  description: string;
  options: Record<string, string>;
  /** Per-device HMAC salt, base64; stored under the barrier like every other value. */
  salt: string;
}

type Broker = ReturnType<typeof createAuditBroker>;

/** The persisted list of audit devices; devices are re-opened on every unseal. */
export function createAuditTable(broker: Broker, logger: Logger) {
  let entries: AuditDeviceEntry[] = [];
  let view: StorageView | undefined;
  // Enables and disables run one at a time: two enables of one path must not both open a device.
  const changes = createKeyedLock();

  const normalise = (path: string) => path.replace(/^\/+|\/+$/g, "") + "/";
  const open = (e: AuditDeviceEntry) =>
    broker.enable(
      e.path,
      createFileAuditDevice({
        path: e.options.file_path,
        salt: Buffer.from(e.salt, "base64"),
        mode: e.options.mode ? parseInt(e.options.mode, 8) : undefined,
        description: e.description,
      }),
    );

  async function enable(path: string, params: { type: "file"; description: string; options: Record<string, string> }) {
    const p = normalise(path);
    if (entries.some((e) => e.path === p)) throw badRequest(`an audit device is already enabled at "${p}"`);
    const entry: AuditDeviceEntry = { path: p, ...params, salt: randomBytes(32).toString("base64") };
    await open(entry);
    // A destination that opens but cannot be written (a full disk) must fail the
    // enable, not every request after it: write one line before persisting.
    try {
      await broker.probe(p, JSON.stringify({ time: new Date().toISOString(), type: "audit-device-enabled", path: p }));
    } catch (err) {
      await broker.disable(p);
      const reason = (err as NodeJS.ErrnoException).code ?? "write failed";
      throw badRequest(`audit device "${p}" cannot write to ${params.options.file_path}: ${reason}`);
    }
    entries = [...entries, entry];
    await view?.putJSON("table", entries);
  }

  async function disable(path: string) {
    const p = normalise(path);
    if (!entries.some((e) => e.path === p)) throw badRequest(`no audit device enabled at "${p}"`);
    await broker.disable(p);
    entries = entries.filter((e) => e.path !== p);
    await view?.putJSON("table", entries);
  }

  return {
    async load(storage: StorageView) {
      view = storage;
      for (const e of entries) await broker.disable(e.path);
      entries = (await storage.getJSON<AuditDeviceEntry[]>("table")) ?? [];
      for (const e of entries) {
        try {
          await open(e);
        } catch (err) {
          logger.error({ err, path: e.path }, "could not open audit device");
        }
      }
    },
    list: () => entries.map(({ salt: _salt, ...rest }) => rest),
    enable: (path: string, params: { type: "file"; description: string; options: Record<string, string> }) =>
      changes.run("table", () => enable(path, params)),
    disable: (path: string) => changes.run("table", () => disable(path)),
  };
}

export type AuditTable = ReturnType<typeof createAuditTable>;
