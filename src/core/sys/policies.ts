import { mirroredResponse } from "../envelope.js";
import { badRequest, notFound } from "../errors.js";
import type { PathDef } from "../types.js";
import type { SysCore } from "./backend.js";

/** sys/policies/acl (current API) and sys/policy (the older one that many Vault clients still call, reading its fields at the top level). */
export function policyPaths(core: SysCore): PathDef[] {
  const store = () => core.services.policies;
  const read = async (name: string) => {
    const policy = await store().get(name);
    if (!policy) throw notFound(`policy "${name}" does not exist`);
    return policy;
  };
  const write = async (name: string, text: unknown) => {
    if (typeof text !== "string" || text.trim() === "") throw badRequest('missing required field "policy"');
    await store().put(name, text);
    return {};
  };
  return [
    {
      pattern: "policies/acl",
      ops: { list: async () => ({ data: { keys: await store().list() } }) },
    },
    {
      pattern: "policies/acl/:name",
      fields: { policy: { type: "string" } },
      ops: {
        read: async (req) => {
          const p = await read(req.params.name);
          return { data: { name: p.name, policy: p.text } };
        },
        update: async (req) => write(req.params.name, req.data.policy),
        delete: async (req) => {
          await store().delete(req.params.name);
          return {};
        },
      },
    },
    {
      pattern: "policy",
      ops: {
        read: async () => {
          const names = await store().list();
          return mirroredResponse({ keys: names, policies: names });
        },
      },
    },
    {
      pattern: "policy/:name",
      fields: { policy: { type: "string" }, rules: { type: "string" } },
      ops: {
        read: async (req) => {
          const p = await read(req.params.name);
          return mirroredResponse({ name: p.name, rules: p.text });
        },
        update: async (req) => write(req.params.name, req.data.policy ?? req.data.rules),
        delete: async (req) => {
          await store().delete(req.params.name);
          return {};
        },
      },
    },
  ];
}
