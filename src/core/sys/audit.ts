import { parseFileMode } from "../audit/file.js";
import { mirroredResponse } from "../envelope.js";
import { badRequest } from "../errors.js";
import type { PathDef } from "../types.js";
import type { SysCore } from "./backend.js";

/** sys/audit (enable, disable, list devices) and sys/audit-hash (what a value looks like in the log). */
export function auditPaths(core: SysCore): PathDef[] {
  return [
    {
      pattern: "audit",
      sudo: true,
      ops: {
        read: async () => {
          const data: Record<string, unknown> = {};
          for (const d of core.auditTable.list()) {
            data[d.path] = { path: d.path, type: d.type, description: d.description, options: d.options, local: false };
          }
          return mirroredResponse(data);
        },
      },
    },
    {
      pattern: "audit/*path",
      sudo: true,
      fields: { type: { type: "string" }, description: { type: "string" }, options: { type: "map" } },
      ops: {
        update: async (req) => {
          const type = req.data.type;
          if (type !== "file") throw badRequest(`unsupported audit device type "${String(type)}": latchkey supports "file"`);
          const options = (req.data.options ?? {}) as Record<string, unknown>;
          const filePath = options.file_path ?? options.path;
          if (typeof filePath !== "string" || filePath === "") throw badRequest('missing required field "options.file_path"');
          // Stored canonical ("0640"), so the table reads back exactly what was checked here.
          const mode: Record<string, string> = options.mode === undefined ? {} : { mode: parseFileMode(options.mode).text };
          await core.auditTable.enable(req.params.path, {
            type,
            description: (req.data.description as string | undefined) ?? "",
            options: { file_path: filePath, ...mode },
          });
          return {};
        },
        delete: async (req) => {
          await core.auditTable.disable(req.params.path);
          return {};
        },
      },
    },
    {
      pattern: "audit-hash/*path",
      fields: { input: { type: "string", required: true } },
      ops: {
        update: async (req) => {
          return mirroredResponse({ hash: core.audit.hash(req.params.path, req.data.input as string) });
        },
      },
    },
  ];
}
