/** The node service's Prometheus metrics: event counts, operation durations, states. */
export {
  classifyEvent,
  type EventSeries,
  OPERATION_KINDS,
  type OperationKind,
} from "./classify.ts";
export { gpuAllocationCounts, type InstanceCount, instanceCounts } from "./readings.ts";
export {
  LEDGER_WRITE_METHODS,
  OPERATION_DURATION_BUCKETS,
  ServiceMetrics,
} from "./service_metrics.ts";
