/**
 * One Prometheus exposition from several registries that live in different workers. Each
 * worker sends a {@link MetricsSnapshot} of its registry (prom-client's JSON form); the HTTP
 * worker merges them family by family and has prom-client write the text, so the escaping and
 * number formatting are the library's. A family may come from several workers (the runtime's
 * `nodejs_*` families, told apart by their `worker` label); two workers sending the same family
 * with different types, or the very same series twice, is a bug and is refused loudly, since
 * Prometheus would reject the whole scrape for it.
 *
 * @example
 * ```ts
 * const text = await renderExposition([await snapshotOf(httpRegistry), networkSnapshot]);
 * ```
 */
import { Registry } from "prom-client";
import type { MetricFamily, MetricSample, MetricsSnapshot } from "../schemas/metrics.ts";

/** The content type of the text format prom-client writes (Prometheus text format 0.0.4). */
export const EXPOSITION_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

/** A registry's families and samples, in the shape that crosses a worker boundary. */
export async function snapshotOf(registry: Registry): Promise<MetricsSnapshot> {
  const families = await registry.getMetricsAsJSON();
  return {
    families: families.map((family) => ({
      name: family.name,
      help: family.help,
      type: String(family.type) as MetricFamily["type"],
      values: (family.values as MetricSample[]).map((sample) => ({
        value: sample.value,
        labels: { ...sample.labels },
        ...(sample.metricName === undefined ? {} : { metricName: sample.metricName }),
      })),
    })),
  };
}

/** Thrown when snapshots cannot be merged into a valid exposition. */
export class MetricsMergeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MetricsMergeError";
  }
}

/** The families of all `snapshots`, merged by name, in the order they first appear. */
export function mergeSnapshots(snapshots: readonly MetricsSnapshot[]): MetricFamily[] {
  const merged = new Map<string, MetricFamily>();
  const seen = new Set<string>();
  for (const snapshot of snapshots) {
    for (const family of snapshot.families) {
      const known = merged.get(family.name);
      if (known && known.type !== family.type) {
        throw new MetricsMergeError(
          `metric ${family.name} is a ${known.type} in one worker and a ${family.type} in another`,
        );
      }
      const into = known ?? { ...family, values: [] };
      for (const sample of family.values) {
        const key = seriesKey(sample.metricName ?? family.name, sample.labels);
        if (seen.has(key)) throw new MetricsMergeError(`series ${key} is reported twice`);
        seen.add(key);
        into.values.push(sample);
      }
      merged.set(family.name, into);
    }
  }
  return [...merged.values()];
}

/** The Prometheus text exposition of the merged `snapshots`. */
export function renderExposition(snapshots: readonly MetricsSnapshot[]): Promise<string> {
  const registry = new Registry();
  for (const family of mergeSnapshots(snapshots)) {
    // prom-client renders anything with a name, help, type and get(); this is what its own
    // AggregatorRegistry registers for families gathered from cluster workers.
    registry.registerMetric(
      { ...family, aggregator: "sum", get: () => family } as unknown as Parameters<
        Registry["registerMetric"]
      >[0],
    );
  }
  return registry.metrics();
}

function seriesKey(name: string, labels: MetricSample["labels"]): string {
  const sorted = Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `${name}{${sorted.map(([label, value]) => `${label}=${JSON.stringify(String(value))}`)}}`;
}
