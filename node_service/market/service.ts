/**
 * The market of GPU nodes inside the node service: every node keeps a
 * {@link MarketTable} fed by the `service.summary` broadcasts it receives
 * (and drops a node as soon as the network reports it gone); a GPU node also
 * announces its own machine ({@link startAnnouncer}) and lists itself. The
 * `market.nodes` and `market.node` methods read the table.
 */
import {
  type Clock,
  type GpuReport,
  type Handlers,
  type Logger,
  machineIdOf,
  NETWORK_DEPARTED_TOPIC,
  type NodeConfig,
  NodeDepartedSchema,
  RpcError,
  SERVICE_SUMMARY_TOPIC,
  type ServiceSummary,
  VERSION,
} from "../../mod/mod.ts";
import { type Announcer, startAnnouncer } from "./announcer.ts";
import { buildServiceSummary, readHostFacts } from "./machine_summary.ts";
import { ANNOUNCE_STATE_TIMEOUT_MS } from "./constants.ts";
import { MarketTable } from "./table.ts";
import {
  type RunningSubscription,
  runSubscription,
  type WorkerCall,
} from "../network_subscription.ts";
import type { VerificationService } from "../verification/mod.ts";

export type MarketHandlers = Pick<Handlers<"node_service">, "market.nodes" | "market.node">;

export type MarketDeps = {
  config: NodeConfig;
  nodeId: string;
  call: WorkerCall;
  clock: Clock;
  log: Logger;
  gpuReport: () => Promise<GpuReport>;
  /** Where the machine's state comes from; absent when none is configured or reachable. */
  verification: VerificationService | undefined;
  /** Directories whose file system is announced as the disk (the VM directory first). */
  diskPaths: readonly string[];
};

export type StartedMarket = {
  handlers: MarketHandlers;
  table: MarketTable;
  announcer: Announcer | undefined;
  listener: RunningSubscription;
  stop(): Promise<void>;
};

/**
 * This machine's id at the verification service: its node id under the
 * embedded ledger (an owner registers the GPU node under that id), the
 * configured chain machine id under Substrate.
 */
export function machineIdFor(config: NodeConfig, nodeId: string): string {
  return config.verification_service === "substrate" && config.substrate_machine_id !== ""
    ? config.substrate_machine_id
    : nodeId;
}

export function startMarket(deps: MarketDeps): StartedMarket {
  const { config, nodeId, clock, log } = deps;
  const table = new MarketTable();

  const listener = runSubscription({
    call: deps.call,
    clock,
    log,
    topics: [SERVICE_SUMMARY_TOPIC, NETWORK_DEPARTED_TOPIC],
    kinds: ["broadcast"],
    onMessage: (message) => {
      if (message.kind !== "broadcast") return;
      if (message.topic === NETWORK_DEPARTED_TOPIC) {
        // Only this node's network worker reports departures; a broadcast cannot claim its id.
        if (message.from !== nodeId) return;
        const departed = NodeDepartedSchema.safeParse(message.body);
        if (departed.success && table.remove(departed.data.node_id)) {
          log.info("GPU node left the network", { node_id: departed.data.node_id });
        }
        return;
      }
      const outcome = table.offer(message.from, message.body, clock.now());
      if (outcome.kind === "refused") {
        log.debug("service summary refused", { from: message.from, reason: outcome.reason });
      } else if (outcome.kind === "added") {
        log.info("GPU node announced itself", { node_id: message.from });
      }
    },
  });

  let announcer: Announcer | undefined;
  if (config.role === "gpu") {
    const machineId = machineIdFor(config, nodeId);
    let lastState: ServiceSummary["state"] = "unknown";
    const machineState = async (): Promise<ServiceSummary["state"]> => {
      if (!deps.verification) return "unknown";
      const asked = deps.verification.machineStatus(machineId).then(
        (report) => (lastState = report.found ? report.status : "unregistered"),
        () => lastState,
      );
      const cancel = new AbortController();
      const late = clock.sleep(ANNOUNCE_STATE_TIMEOUT_MS, cancel.signal).then(
        () => lastState,
        () => lastState,
      );
      try {
        return await Promise.race([asked, late]);
      } finally {
        cancel.abort();
      }
    };
    announcer = startAnnouncer({
      call: deps.call,
      clock,
      log,
      intervalMs: config.announce_interval_s * 1_000,
      summary: async () => {
        const [gpuReport, host, state] = await Promise.all([
          deps.gpuReport(),
          readHostFacts(deps.diskPaths),
          machineState(),
        ]);
        return buildServiceSummary({
          nodeId,
          version: VERSION,
          gpuReport,
          host,
          state,
          pricePerHour: config.rent_price_per_hour === "" ? null : config.rent_price_per_hour,
          announceIntervalS: config.announce_interval_s,
          now: clock.now(),
          machineId: machineIdOf(config, nodeId),
        });
      },
      onSummary: (summary) => table.offer(nodeId, summary, clock.now()),
    });
  }

  const handlers: MarketHandlers = {
    "market.nodes": () => ({ nodes: table.list(clock.now()) }),
    "market.node": (params) => {
      const node = table.get(params.node_id, clock.now());
      if (!node) {
        throw new RpcError(
          "not_found",
          `no GPU node ${params.node_id} has announced itself to this node lately`,
        );
      }
      return node;
    },
  };

  return {
    handlers,
    table,
    announcer,
    listener,
    async stop() {
      await announcer?.stop();
      await listener.stop();
    },
  };
}
