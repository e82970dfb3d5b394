/**
 * The runtime's own figures, under the names prom-client's default metrics use, as far as they
 * hold under Deno. Checked with Deno 2.9.6 in a worker with this node's permissions:
 *
 * - per isolate (each worker has its own heap and event loop, so these carry a `worker` label):
 *   `nodejs_eventloop_lag_seconds` and its `_min/_max/_mean/_stddev/_p50/_p90/_p99` companions
 *   (Deno implements `perf_hooks.monitorEventLoopDelay`), `nodejs_heap_size_total_bytes`,
 *   `nodejs_heap_size_used_bytes`, `nodejs_external_memory_bytes` (`process.memoryUsage()` reports
 *   the calling isolate's heap): prom-client's own collectors;
 * - per process (reported once, by the HTTP worker, without a `worker` label): the resident set
 *   (`Deno.memoryUsage().rss`), CPU time (`process.cpuUsage()`, which is the whole process's), and
 *   the start time (the node's, which the main thread hands every worker).
 *
 * Left out, because under Deno they would report a wrong number rather than none:
 * `process_resident_memory_bytes` / `process_virtual_memory_bytes` / `process_heap_bytes` as
 * prom-client reads them (from `/proc/self/status`, which Deno refuses a worker: it would report
 * 0), `process_open_fds` and `process_max_fds` (`/proc/self/fd`, `/proc/self/limits`: the same),
 * `process_start_time_seconds` as prom-client computes it (`process.uptime()` is the worker's),
 * `nodejs_active_handles*` / `nodejs_active_requests*` (Deno's stubs always answer none),
 * `nodejs_active_resources*` (only Node-compatible timers are seen), `nodejs_gc_duration_seconds`
 * (Deno emits no `gc` performance entries) and `nodejs_version_info` (it would name the Node
 * version Deno imitates; `dbc_node_info` says what runs).
 */
import process from "node:process";
import { Counter, Gauge, type Registry } from "prom-client";
import eventLoopLagModule from "prom-client/lib/metrics/eventLoopLag.js";
import heapSizeAndUsedModule from "prom-client/lib/metrics/heapSizeAndUsed.js";

/** The signature of prom-client's default-metric modules (untyped JavaScript in the package). */
type DefaultMetric = (
  registry: Registry,
  config: { labels?: Record<string, string>; eventLoopMonitoringPrecision?: number },
) => void;
const eventLoopLag = eventLoopLagModule as DefaultMetric;
const heapSizeAndUsed = heapSizeAndUsedModule as DefaultMetric;

type CpuUsage = ReturnType<typeof process.cpuUsage>;

/**
 * Sampling interval of the event-loop delay histogram. prom-client's default is 10 ms; measured
 * here (Deno 2.9.6), three isolates sampling at 10 ms cost an idle process 0.6 % of a core, at
 * 20 ms 0.3 %, and 20 ms still catches any stall worth an alert.
 */
export const EVENT_LOOP_MONITORING_PRECISION_MS = 20;

/** Event-loop lag and heap of the calling isolate, labelled `worker`. */
export function registerIsolateMetrics(registry: Registry, worker: string): void {
  const config = {
    labels: { worker },
    eventLoopMonitoringPrecision: EVENT_LOOP_MONITORING_PRECISION_MS,
  };
  eventLoopLag(registry, config);
  // prom-client measures the lag after each collect and reports it at the next; one collect
  // now gives the first scrape a figure instead of an empty family.
  void registry.getSingleMetric("nodejs_eventloop_lag_seconds")?.get();
  heapSizeAndUsed(registry, config);
}

/** Whole-process figures; register them in one worker only. `startedAtMs`: when the node started. */
export function registerProcessMetrics(registry: Registry, startedAtMs: number): void {
  new Gauge({
    name: "process_resident_memory_bytes",
    help: "Resident memory size in bytes.",
    registers: [registry],
    collect() {
      this.set(Deno.memoryUsage().rss);
    },
  });
  new Gauge({
    name: "process_start_time_seconds",
    help: "Start time of the process since unix epoch in seconds.",
    registers: [registry],
    collect() {
      this.set(Math.round(startedAtMs / 1_000));
    },
  });
  // process.cpuUsage() is the whole process's total; each counter is set to it, not added to.
  const cpu = (name: string, help: string, pick: (usage: CpuUsage) => number) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(pick(process.cpuUsage()) / 1e6);
      },
    });
  cpu("process_cpu_user_seconds_total", "Total user CPU time spent in seconds.", (u) => u.user);
  cpu(
    "process_cpu_system_seconds_total",
    "Total system CPU time spent in seconds.",
    (u) => u.system,
  );
  cpu(
    "process_cpu_seconds_total",
    "Total user and system CPU time spent in seconds.",
    (u) => u.user + u.system,
  );
}
