import { Counter, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** What prom-client's registry reports as JSON: a list of metrics with their series. */
type RegistryJson = Awaited<ReturnType<Registry["getMetricsAsJSON"]>>;
type PromMetric = RegistryJson[number];
type PromValue = PromMetric["values"][number] & { metricName?: string };

/** Prometheus metrics of one core (a registry each, so tests can run several cores in one process). */
export function createMetrics(sources: { transactionRetries?: () => number } = {}) {
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
  // The histogram's series for each mount type and operation, bound once: prom-client
  // otherwise validates and hashes the label set on every observation.
  const series = new Map<string, Map<string, Histogram.Internal<"mount_type" | "operation">>>();
  const seriesFor = (mountType: string, operation: string) => {
    let byOperation = series.get(mountType);
    if (!byOperation) {
      byOperation = new Map();
      series.set(mountType, byOperation);
    }
    let bound = byOperation.get(operation);
    if (!bound) {
      bound = requests.labels({ mount_type: mountType, operation });
      byOperation.set(operation, bound);
    }
    return bound;
  };
  const { transactionRetries } = sources;
  if (transactionRetries) {
    // Serialization retries are what concurrent writes on a shared PostgreSQL database cost.
    new Counter({
      name: "latchkey_storage_transaction_retries_total",
      help: "Storage transactions run again after a serialization failure or deadlock",
      registers: [registry],
      collect() {
        this.reset();
        this.inc(transactionRetries());
      },
    });
  }
  return {
    registry,
    leasesRevoked,
    observeRequest(mountType: string, operation: string, seconds: number) {
      seriesFor(mountType, operation).observe(seconds);
    },
    /** The Prometheus text exposition: sys/metrics?format=prometheus. */
    text: () => registry.metrics(),
    contentType: registry.contentType,
    /** Vault's JSON shape of sys/metrics (its default format). */
    json: async () => vaultMetricsJson(await registry.getMetricsAsJSON(), new Date()),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

type Labels = Record<string, string>;
interface Gauge { Name: string; Value: number; Labels: Labels }
interface Aggregate { Name: string; Count: number; Sum: number; Mean?: number; Labels: Labels }

/** sys/metrics without a format: the shape of go-metrics' in-memory sink, which Vault returns. */
export interface VaultMetrics {
  Timestamp: string;
  Gauges: Gauge[];
  Points: never[];
  Counters: Aggregate[];
  Samples: Aggregate[];
}

/**
 * Maps prom-client's registry onto Vault's JSON metrics. Prometheus keeps
 * cumulative totals, not go-metrics' per-interval aggregates, so a counter's
 * Count and Sum both carry its total, a histogram or summary gives its count,
 * sum and mean, and the spread fields (Rate, Min, Max, Stddev) are left out
 * rather than made up.
 */
export function vaultMetricsJson(metrics: RegistryJson, now: Date): VaultMetrics {
  const out: VaultMetrics = { Timestamp: goTimestamp(now), Gauges: [], Points: [], Counters: [], Samples: [] };
  for (const metric of metrics) {
    // prom-client's type is declared as an enum but is the string name at run time.
    const type = String(metric.type);
    if (type === "gauge") {
      for (const v of metric.values) out.Gauges.push({ Name: metric.name, Value: v.value, Labels: labelsOf(v.labels) });
    } else if (type === "counter") {
      for (const v of metric.values) {
        out.Counters.push({ Name: metric.name, Count: v.value, Sum: v.value, Labels: labelsOf(v.labels) });
      }
    } else if (type === "histogram" || type === "summary") {
      out.Samples.push(...aggregates(metric));
    }
  }
  return out;
}

/** One aggregate per label set, from the `_count` and `_sum` series (buckets and quantiles are skipped). */
function aggregates(metric: PromMetric): Aggregate[] {
  const byLabels = new Map<string, Aggregate>();
  for (const v of metric.values as PromValue[]) {
    const field = v.metricName === `${metric.name}_count` ? "Count" : v.metricName === `${metric.name}_sum` ? "Sum" : undefined;
    if (!field) continue;
    const labels = labelsOf(v.labels);
    const key = JSON.stringify(Object.entries(labels).sort());
    const entry = byLabels.get(key) ?? { Name: metric.name, Count: 0, Sum: 0, Labels: labels };
    entry[field] = v.value;
    byLabels.set(key, entry);
  }
  return [...byLabels.values()].map((a) => ({ ...a, Mean: a.Count > 0 ? a.Sum / a.Count : 0 }));
}

function labelsOf(labels: Partial<Record<string, string | number>>): Labels {
  const out: Labels = {};
  for (const [k, v] of Object.entries(labels)) if (v !== undefined) out[k] = String(v);
  return out;
}

/** Go's time.Time.String() in UTC, as go-metrics writes its interval timestamp: `2024-05-01 12:00:00 +0000 UTC`. */
function goTimestamp(date: Date): string {
  return `${date.toISOString().slice(0, 19).replace("T", " ")} +0000 UTC`;
}
