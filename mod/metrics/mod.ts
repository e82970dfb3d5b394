/**
 * Prometheus metrics, shared by every worker: prom-client registries, the runtime's figures
 * (runtime.ts), metrics read from totals kept elsewhere (mirrored.ts), the merge of the workers'
 * snapshots into one exposition (exposition.ts), and who may scrape (allow.ts).
 */
export {
  addressAllowed,
  type Cidr,
  DEFAULT_METRICS_ALLOW,
  type IpAddress,
  parseCidr,
  parseCidrList,
  parseIp,
} from "./allow.ts";
export {
  EXPOSITION_CONTENT_TYPE,
  mergeSnapshots,
  MetricsMergeError,
  renderExposition,
  snapshotOf,
} from "./exposition.ts";
export { mirroredCounter, mirroredGauge, type MirroredOptions, type Reading } from "./mirrored.ts";
export {
  EVENT_LOOP_MONITORING_PRECISION_MS,
  registerIsolateMetrics,
  registerProcessMetrics,
} from "./runtime.ts";
export { Counter, Gauge, Histogram, type LabelValues, Registry } from "prom-client";
