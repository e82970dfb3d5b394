/** Prometheus metrics of the HTTP worker, and `GET /metrics` for the whole node. */
export {
  HttpMetrics,
  type HttpMetricsOptions,
  METRICS_PATH,
  metricsRefusal,
  SOURCE_TIMEOUT_MS,
} from "./http_metrics.ts";
export { METRICS_SOURCES, type MetricsSource, nodeSnapshot } from "./node_families.ts";
export {
  HTTP_DURATION_BUCKETS,
  methodLabel,
  type RequestMetrics,
  requestMetrics,
  routeLabel,
  UNMATCHED_ROUTE,
} from "./request_metrics.ts";
