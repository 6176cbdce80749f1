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

export function envelope(
  requestId: string,
  resp: LogicalResponse,
  extra: { leaseId?: string; leaseDuration?: number; renewable?: boolean; auth?: TokenAuthResult; mountType?: string },
): Envelope {
  return {
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
}

/** A response that bypasses the envelope (sys/health, sys/init, sys/seal-status: Vault returns them bare). */
export function rawJson(body: unknown, status = 200): LogicalResponse {
  return { raw: { contentType: "application/json", body: JSON.stringify(body), status } };
}
