/**
 * What a worker hands the HTTP worker when `/metrics` is scraped: its Prometheus registry as
 * prom-client's `getMetricsAsJSON()` gives it (families with their samples), so the HTTP worker
 * can merge every worker's families into one exposition (mod/metrics/exposition.ts).
 */
import { z } from "zod";

export const METRIC_TYPES = ["counter", "gauge", "histogram", "summary"] as const;
export type MetricType = typeof METRIC_TYPES[number];

/** Prometheus's rule for metric and label names. */
export const METRIC_NAME_PATTERN = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

/** Any number, NaN and the infinities included: Prometheus carries them all. */
const SampleValue = z.custom<number>((value) => typeof value === "number", {
  message: "expected a number",
});

export const MetricSampleSchema = z.object({
  value: SampleValue,
  labels: z.record(z.string(), z.union([z.string(), z.number()])),
  /** A histogram's or summary's part: `<name>_bucket`, `<name>_sum`, `<name>_count`. */
  metricName: z.string().regex(METRIC_NAME_PATTERN).optional(),
});
export type MetricSample = z.infer<typeof MetricSampleSchema>;

export const MetricFamilySchema = z.object({
  name: z.string().regex(METRIC_NAME_PATTERN),
  help: z.string(),
  type: z.enum(METRIC_TYPES),
  values: z.array(MetricSampleSchema),
});
export type MetricFamily = z.infer<typeof MetricFamilySchema>;

export const MetricsSnapshotSchema = z.object({ families: z.array(MetricFamilySchema) });
export type MetricsSnapshot = z.infer<typeof MetricsSnapshotSchema>;
