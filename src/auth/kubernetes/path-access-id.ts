import { badRequest, notFound } from "../../core/errors.js";
import type { FieldSchema, LogicalRequest, LogicalResponse, PathDef } from "../../core/types.js";
import { ACCESS_ID_PATTERN, generateAccessKeyPair, newAccessId } from "./access-keys.js";
import { isValidName, quoted } from "../../core/input.js";
import { EMPTY_ROLE, ROLE_FIELDS, refuseIfSigning, roleFromInput } from "./path-role.js";
import { deleteAccessId, deleteRole, getAccessId, getRole, listAccessIds, putAccessId, putRole } from "./store.js";
import type { AccessIdRecord, AccessKeyType } from "./types.js";

const CREATE_FIELDS: Record<string, FieldSchema> = {
  ...ROLE_FIELDS,
  // Not `required`: the schema also applies to LIST on this path.
  name: { type: "string", description: "Name of the role the access id logs in to (required)" },
  key_type: { type: "string", description: "Signing key type: ec (P-256, default) or rsa (2048 bits)" },
};

/**
 * Access ids (`auth-method create k8s`): `access-id` creates a role together
 * with an access id and a signing key pair, keeps only the public half and
 * returns `{access_id, prv_key}` (base64 of the PKCS#8 PEM) once; the private
 * key then goes into a gateway config (`config/<name>` with `access_id` and
 * `signing_key`), which signs every login through it.
 */
export function accessIdPaths(opts: { now: () => number }): PathDef[] {
  const list = async (req: LogicalRequest): Promise<LogicalResponse> => {
    const keys = await listAccessIds(req.storage);
    if (keys.length === 0) throw notFound("");
    return { data: { keys } };
  };
  return [
    {
      pattern: "access-id",
      fields: CREATE_FIELDS,
      ops: { update: (req) => createAccessId(req, opts.now), list },
      help: "Create a role with an access id and a signing key; the private key is returned once and never stored.",
    },
    { pattern: "access-id/", ops: { list }, help: "List the access ids." },
    {
      pattern: "access-id/:id",
      ops: {
        read: async (req) => ({ data: renderAccessId(await accessIdOf(req)) }),
        delete: async (req) => {
          const record = await getAccessId(req.storage, req.params.id);
          if (!record) return undefined;
          await refuseIfSigning(req, record.accessId);
          await req.storage.transaction(async (tx) => {
            await deleteAccessId(tx, record.accessId);
            await deleteRole(tx, record.role);
          });
          return undefined;
        },
      },
      help: "An access id's public information; delete removes it with its role.",
    },
  ];
}

async function createAccessId(req: LogicalRequest, now: () => number): Promise<LogicalResponse> {
  const name = req.data.name;
  if (name === undefined || name === "") throw badRequest(`missing required field "name"`);
  if (typeof name !== "string" || !isValidName(name)) throw badRequest(`invalid role name ${quoted(String(name))}`);
  if (await getRole(req.storage, name)) throw badRequest(`role "${name}" already exists`);
  const keyType = keyTypeOf(req.data.key_type);
  // Without bound service account names an access id admits any service account (as `auth-method create k8s` does).
  const base = { ...EMPTY_ROLE, boundServiceAccountNames: ["*"] };
  const accessId = newAccessId();
  const role = { ...roleFromInput(base, req.data), accessId };
  const keys = await generateAccessKeyPair(keyType);
  const record: AccessIdRecord = {
    accessId,
    role: name,
    keyType,
    publicKey: keys.publicKeyPem,
    createdTime: new Date(now()).toISOString(),
  };
  await req.storage.transaction(async (tx) => {
    await putRole(tx, name, role);
    await putAccessId(tx, record);
  });
  return { data: { access_id: accessId, prv_key: Buffer.from(keys.privateKeyPem).toString("base64") } };
}

function keyTypeOf(value: unknown): AccessKeyType {
  if (value === undefined || value === null || value === "" || value === "ec") return "ec";
  if (value === "rsa") return "rsa";
  throw badRequest(`field "key_type" must be "ec" or "rsa"`);
}

async function accessIdOf(req: LogicalRequest): Promise<AccessIdRecord> {
  const id = req.params.id;
  const record = ACCESS_ID_PATTERN.test(id) ? await getAccessId(req.storage, id) : undefined;
  if (!record) throw notFound("");
  return record;
}

const renderAccessId = (r: AccessIdRecord) => ({
  access_id: r.accessId,
  role: r.role,
  key_type: r.keyType,
  public_key: r.publicKey,
  created_time: r.createdTime,
});
