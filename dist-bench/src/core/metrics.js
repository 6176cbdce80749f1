import { Counter, Histogram, Registry, collectDefaultMetrics } from "prom-client";
/** Prometheus metrics of one core (a registry each, so tests can run several cores in one process). */
export function createMetrics() {
    const registry = new Registry();
    collectDefaultMetrics({ register: registry, prefix: "latchkey_" });
    const requests = new Histogram({
        name: "latchkey_request_duration_seconds",
        help: "Time to handle a /v1 request, by mount type and operation",
        labelNames: ["mount_type", "operation"],
        buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
        registers: [registry],
    });
    const leasesRevoked = new Counter({
        name: "latchkey_leases_revoked_total",
        help: "Leases revoked by the expiration manager or by request",
        registers: [registry],
    });
    return {
        registry,
        leasesRevoked,
        observeRequest(mountType, operation, seconds) {
            requests.observe({ mount_type: mountType, operation }, seconds);
        },
        text: () => registry.metrics(),
        contentType: registry.contentType,
    };
}
