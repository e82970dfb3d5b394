/**
 * The node service's Prometheus metrics. Counts come from where the node service already
 * records what it does: every event of its log (event_log.ts tells {@link ServiceMetrics.observe}
 * of each one as it is written) and the ledger's write handlers (wrapped by
 * {@link ServiceMetrics.countLedgerWrites}, since the ledger does not log heartbeats); states
 * (instances, GPUs) are read from the database at each scrape. The HTTP worker asks for them
 * with `metrics.node_service`.
 */
import {
  Counter,
  type DatabaseSync,
  type Handlers,
  Histogram,
  type Method,
  type MetricsSnapshot,
  mirroredGauge,
  registerIsolateMetrics,
  Registry,
  snapshotOf,
} from "../../mod/mod.ts";
import type { NewEvent } from "../event_log.ts";
import { classifyEvent, OPERATION_KINDS, type OperationKind } from "./classify.ts";
import { gpuAllocationCounts, instanceCounts } from "./readings.ts";

/** Seconds: VM operations run from well under a second (a stop) to minutes (a create). */
export const OPERATION_DURATION_BUCKETS = [
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
  60,
  120,
  300,
  600,
];

/** The ledger methods that change it; the rest only read. */
export const LEDGER_WRITE_METHODS = [
  "ledger.machine_register",
  "ledger.order_grab",
  "ledger.order_report",
  "ledger.rent",
  "ledger.renew",
  "ledger.fund",
  "ledger.multisig_register",
  "ledger.machine_heartbeat",
] as const satisfies readonly Method[];
type LedgerWriteMethod = typeof LEDGER_WRITE_METHODS[number];

type ResultLabel = "ok" | "error";

export class ServiceMetrics {
  readonly #registry = new Registry();
  readonly #events: Counter<"action" | "result">;
  readonly #operations: Record<OperationKind, Counter<"action" | "result">>;
  readonly #durations: Record<OperationKind, Histogram<"action" | "result">>;
  readonly #leaseActions: Counter<"action" | "result">;
  readonly #ledgerWrites: Counter<"kind" | "result">;

  constructor(db: DatabaseSync) {
    const registers = [this.#registry];
    registerIsolateMetrics(this.#registry, "node_service");
    this.#events = new Counter({
      name: "dbc_events_total",
      help: "Events written to the node service's event log, by action and result.",
      labelNames: ["action", "result"],
      registers,
    });
    const operations = {} as Record<OperationKind, Counter<"action" | "result">>;
    const durations = {} as Record<OperationKind, Histogram<"action" | "result">>;
    for (const kind of OPERATION_KINDS) {
      const noun = kind === "vm" ? "VM" : "container";
      operations[kind] = new Counter({
        name: `dbc_${kind}_operations_total`,
        help: `${noun} operations (create, start, stop, ...), by action and result.`,
        labelNames: ["action", "result"],
        registers,
      });
      durations[kind] = new Histogram({
        name: `dbc_${kind}_operation_duration_seconds`,
        help: `How long ${noun} operations took, from their start to their outcome.`,
        labelNames: ["action", "result"],
        buckets: OPERATION_DURATION_BUCKETS,
        registers,
      });
    }
    this.#operations = operations;
    this.#durations = durations;
    this.#leaseActions = new Counter({
      name: "dbc_lease_actions_total",
      help: "Steps the lease loop took (track, expire, renew, delete, gone), by result.",
      labelNames: ["action", "result"],
      registers,
    });
    this.#ledgerWrites = new Counter({
      name: "dbc_ledger_writes_total",
      help: "Writes to this seed's ledger (register, rent, fund, heartbeat, ...), by result.",
      labelNames: ["kind", "result"],
      registers,
    });
    mirroredGauge({
      registry: this.#registry,
      name: "dbc_instances",
      help: "VMs and containers on this node, by state.",
      labelNames: ["kind", "state"],
      read: () => instanceCounts(db).map(({ kind, state, count }) => [{ kind, state }, count]),
    });
    mirroredGauge({
      registry: this.#registry,
      name: "dbc_gpus_allocated",
      help: "GPUs held by VMs and containers now.",
      labelNames: ["kind"],
      read: () => Object.entries(gpuAllocationCounts(db)).map(([kind, count]) => [{ kind }, count]),
    });
  }

  /** Counts one event of the log; `durationMs` where the operation's start is known. */
  observe(event: NewEvent, durationMs: number | undefined): void {
    const result: ResultLabel = event.result;
    this.#events.inc({ action: event.action, result });
    const series = classifyEvent(event.action);
    switch (series.family) {
      case "operation": {
        const labels = { action: series.action, result };
        this.#operations[series.kind].inc(labels);
        if (durationMs !== undefined) {
          this.#durations[series.kind].observe(labels, Math.max(0, durationMs) / 1_000);
        }
        return;
      }
      case "lease":
        this.#leaseActions.inc({ action: series.action, result });
        return;
      case "other":
        return;
    }
  }

  /** `handlers` with each ledger write counted by its outcome. */
  countLedgerWrites<H extends Partial<Pick<Handlers<"node_service">, LedgerWriteMethod>>>(
    handlers: H,
  ): H {
    const counted: Record<string, unknown> = { ...handlers };
    for (const method of LEDGER_WRITE_METHODS) {
      const handler = handlers[method] as
        | ((params: unknown, context: unknown) => unknown)
        | undefined;
      if (!handler) continue;
      const kind = method.slice("ledger.".length);
      counted[method] = async (params: unknown, context: unknown) => {
        try {
          const answer = await handler(params, context);
          this.#ledgerWrites.inc({ kind, result: "ok" });
          return answer;
        } catch (error) {
          this.#ledgerWrites.inc({ kind, result: "error" });
          throw error;
        }
      };
    }
    return counted as H;
  }

  collect(): Promise<MetricsSnapshot> {
    return snapshotOf(this.#registry);
  }
}
