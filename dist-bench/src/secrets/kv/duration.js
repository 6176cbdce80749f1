/**
 * Renders whole seconds as Go's `time.Duration.String()` does, because Vault
 * clients read `delete_version_after` as `"0s"`, `"30s"`, `"1h0m0s"`.
 * Parsing is the core's `parseDuration` (whole seconds, never negative).
 */
export function formatDuration(seconds) {
    const whole = Math.floor(seconds);
    const h = Math.floor(whole / 3600);
    const m = Math.floor((whole % 3600) / 60);
    const s = whole % 60;
    if (h > 0)
        return `${h}h${m}m${s}s`;
    if (m > 0)
        return `${m}m${s}s`;
    return `${s}s`;
}
