import type { LogicalResponse } from "./types.js";
import type { TokenAuthResult } from "./tokens/types.js";

/** Vault's response envelope; every /v1 response that is not raw has this shape. */
export interface Envelope {
  request_id: string;
  lease_id: string;
  renewable: boolean;
  lease_duration: number;
  data: Record<string, unknown> | null;
  wrap_info: null;
  warnings: string[] | null;
  auth: TokenAuthResult | null;
  mount_type?: string;
}

/** The data objects that `mirroredResponse` made; `envelope` copies them to the top level. */
const mirrored = new WeakSet<object>();

/**
 * A response whose fields Vault also returns at the top level of the JSON,
 * beside the envelope: sys/mounts, sys/auth, sys/policy, sys/capabilities,
 * sys/audit and the like predate the envelope, and older clients still read
 * them there. The fields stay in `data` too, so they are audited as usual.
 */
export function mirroredResponse(data: Record<string, unknown>): LogicalResponse {
  mirrored.add(data);
  return { data };
}

export function envelope(
  requestId: string,
  resp: LogicalResponse,
  extra: { leaseId?: string; leaseDuration?: number; renewable?: boolean; auth?: TokenAuthResult; mountType?: string },
): Envelope {
  const body: Envelope = {
    request_id: requestId,
    lease_id: extra.leaseId ?? "",
    renewable: extra.renewable ?? false,
    lease_duration: extra.leaseDuration ?? 0,
    data: resp.data ?? null,
    wrap_info: null,
    warnings: resp.warnings?.length ? resp.warnings : null,
    auth: extra.auth ?? null,
    mount_type: extra.mountType,
  };
  if (resp.data && mirrored.has(resp.data)) Object.defineProperty(body, "toJSON", { value: mirroredJson });
  return body;
}

/**
 * Copies `data` to the top level when the envelope is serialised, not before:
 * a response wrapped on the way out gets `data: null` and a new object, and
 * must not carry the copy with it. The envelope's own fields win over a field
 * of the same name (sys/capabilities for a path called "auth").
 */
function mirroredJson(this: Envelope) {
  return this.data && mirrored.has(this.data) ? { ...this.data, ...this } : { ...this };
}

/** A response that bypasses the envelope (sys/health, sys/init, sys/seal-status: Vault returns them bare). */
export function rawJson(body: unknown, status = 200): LogicalResponse {
  return { raw: { contentType: "application/json", body: JSON.stringify(body), status } };
}
