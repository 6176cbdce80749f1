import { pino } from "pino";
/**
 * The one logger. Redaction is a second line of defence: request bodies and
 * tokens are never passed to it in the first place.
 */
export function createLogger(level, destination) {
    return pino({
        level,
        base: { service: "latchkey" },
        redact: {
            paths: ["*.token", "*.client_token", "*.jwt", "*.password", "*.secret", "*.headers.authorization", '*.headers["x-vault-token"]'],
            censor: "[redacted]",
        },
    }, destination ?? pino.destination(2));
}
