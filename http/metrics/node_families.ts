/**
 * Node-wide families the HTTP worker writes itself, from what it learns at each scrape: the
 * supervisor's view of the workers (`node.status`) and which workers answered for their metrics.
 * Pure: a snapshot from plain values.
 */
import type { MetricFamily, MetricsSnapshot, NodeStatus } from "../../mod/mod.ts";

/** The workers asked for their registries (the HTTP worker's own is at hand). */
export const METRICS_SOURCES = ["network", "node_service"] as const;
export type MetricsSource = typeof METRICS_SOURCES[number];

export function nodeSnapshot(
  status: NodeStatus | undefined,
  answered: Record<MetricsSource, boolean>,
): MetricsSnapshot {
  const families: MetricFamily[] = [{
    name: "dbc_metrics_source_up",
    help: "Whether a worker answered for its metrics in this scrape (1) or not (0).",
    type: "gauge",
    values: METRICS_SOURCES.map((source) => ({
      value: answered[source] ? 1 : 0,
      labels: { worker: source },
    })),
  }];
  if (!status) return { families };
  const workers = Object.entries(status.workers);
  families.push(
    {
      name: "dbc_node_info",
      help: "This node: id, role, version and network (always 1).",
      type: "gauge",
      values: [{
        value: 1,
        labels: {
          node_id: status.node_id,
          role: status.role,
          version: status.version,
          network_id: status.network_id,
        },
      }],
    },
    {
      name: "dbc_worker_up",
      help: "Whether the supervisor has the worker running (1) or not (0).",
      type: "gauge",
      values: workers.map(([worker, state]) => ({
        value: state.state === "running" ? 1 : 0,
        labels: { worker },
      })),
    },
    {
      name: "dbc_worker_restarts_total",
      help: "Times the supervisor restarted the worker after it died.",
      type: "counter",
      values: workers.map(([worker, state]) => ({ value: state.restarts, labels: { worker } })),
    },
  );
  return { families };
}
