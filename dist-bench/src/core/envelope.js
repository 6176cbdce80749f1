export function envelope(requestId, resp, extra) {
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
export function rawJson(body, status = 200) {
    return { raw: { contentType: "application/json", body: JSON.stringify(body), status } };
}
