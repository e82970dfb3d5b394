/**
 * The GPU node's side of the ledger's trust in machines:
 *
 * - `machine.registration`: the registration body its owner signs and sends
 *   to the ledger, with the node key's `node_proof` (signed by the network
 *   worker, which holds the key) naming `owner_wallet` as the owner. The
 *   node agrees to no other owner, so nobody else can register it.
 * - heartbeats: every `machine_heartbeat_interval_s`, a node-signed "I am
 *   alive" to the ledger authority, which marks a silent machine down and
 *   does not bill its renter for the time.
 */
import {
  type Clock,
  type GpuReport,
  type Handlers,
  type Logger,
  type NodeConfig,
  normalizeAccount,
  RpcError,
  type TimerHandle,
} from "../../mod/mod.ts";
import type { WorkerCall } from "../network_subscription.ts";
import type { NetworkLedgerTransport } from "../ledger/mod.ts";
import { readHostFacts } from "../market/mod.ts";
import { declareMachine } from "./declaration.ts";

export type MachineHandlers = Pick<Handlers<"node_service">, "machine.registration">;

export type MachineDeps = {
  config: NodeConfig;
  nodeId: string;
  call: WorkerCall;
  clock: Clock;
  log: Logger;
  gpuReport: () => Promise<GpuReport>;
  diskPaths: readonly string[];
  /** The ledger authority, when another node keeps the ledger. */
  ledgerTransport: NetworkLedgerTransport | undefined;
};

export type StartedMachine = { handlers: MachineHandlers; stop(): Promise<void> };

export const OWNER_WALLET_SETTING = "owner_wallet (--owner-wallet, DBC_OWNER_WALLET)";

export function startMachine(deps: MachineDeps): StartedMachine {
  const { config, nodeId, call, clock, log } = deps;

  const handlers: MachineHandlers = {
    "machine.registration": async (params) => {
      if (config.role !== "gpu") {
        throw new RpcError("conflict", `this is a ${config.role} node: only a GPU node registers`);
      }
      const owner = normalizeAccount(config.owner_wallet);
      if (!owner) {
        throw new RpcError(
          "conflict",
          `${OWNER_WALLET_SETTING} is not set: this node agrees to be registered only for its owner's wallet`,
        );
      }
      const declared = declareMachine({
        gpuReport: await deps.gpuReport(),
        host: await readHostFacts(deps.diskPaths),
        reserveGib: config.vm_min_free_disk_gib,
        overrides: params.config,
      });
      if (!declared.ok) throw new RpcError("invalid_params", declared.reason);
      const prices = params.prices ??
        (config.rent_price_per_hour === "" ? undefined : { hour: config.rent_price_per_hour });
      if (!prices) {
        throw new RpcError(
          "invalid_params",
          "give the prices (per second, hour or day), or set rent_price_per_hour",
        );
      }
      const signedAt = clock.now();
      const { signature } = await call("network.sign_statement", {
        statement: {
          kind: "machine_registration",
          machine_id: nodeId,
          owner,
          config: declared.config,
          prices,
          signed_at: signedAt,
        },
      });
      return {
        owner,
        registration: {
          machine_id: nodeId,
          config: declared.config,
          prices,
          node_proof: { signed_at: signedAt, signature },
        },
      };
    },
  };

  let timer: TimerHandle | undefined;
  let stopped = false;
  const transport = deps.ledgerTransport;
  if (config.role === "gpu" && config.verification_service === "ledger" && transport) {
    const beat = async () => {
      const signedAt = clock.now();
      try {
        const { signature } = await call("network.sign_statement", {
          statement: { kind: "machine_heartbeat", machine_id: nodeId, signed_at: signedAt },
        });
        const answer = await transport("ledger.machine_heartbeat", {
          machine_id: nodeId,
          signed_at: signedAt,
          signature,
        });
        if (answer.recovered) {
          log.info("the ledger saw this machine back after an outage", answer.recovered);
        }
      } catch (error) {
        // Not registered yet, or the authority is away: the next beat tries again.
        log.debug("heartbeat not taken", { error: (error as Error).message });
      }
    };
    const schedule = (delayMs: number) => {
      if (stopped) return;
      timer = clock.setTimeout(() => {
        void beat().finally(() => schedule(config.machine_heartbeat_interval_s * 1_000));
      }, delayMs);
    };
    // The first beat soon after start, so a machine back from an outage is up at once.
    schedule(1_000);
  }

  return {
    handlers,
    stop() {
      stopped = true;
      if (timer !== undefined) clock.clearTimeout(timer);
      return Promise.resolve();
    },
  };
}
