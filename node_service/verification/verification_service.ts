/**
 * Where a GPU node learns whether its leases still hold: the verification
 * service. One interface, three ways to reach it:
 *
 * - {@link LocalLedgerVerification}: the embedded ledger in this process (a
 *   seed node, and tests);
 * - {@link RemoteLedgerVerification}: a seed's ledger reached through a
 *   transport with the same shape as the worker `call` (the seam the network
 *   layer fills: a `ledger.*` request sealed to a seed and answered by it);
 * - `SubstrateVerification` (`substrate_rpc.ts`): the original network's chain
 *   over WebSocket JSON-RPC.
 *
 * An implementation throws when it cannot answer (unreachable, malformed
 * reply); the lease loop then changes nothing, so an outage never stops or
 * deletes an instance.
 */
import {
  type LeaseStatus,
  type Machine,
  type MachineStatus,
  type Method,
  type ParamsOf,
  type ResultOf,
  RpcError,
} from "../../mod/mod.ts";
import type { Ledger } from "../ledger/mod.ts";

/** A machine's status as the verification service sees it; `offline` covers what the chain has beyond ours. */
export type MachineStatusReport =
  | { found: false }
  | { found: true; status: MachineStatus | "offline"; detail: string };

export interface VerificationService {
  readonly kind: "ledger" | "remote_ledger" | "substrate";
  /** The latest rental of `machineId` by `renter`. */
  leaseStatus(query: { machineId: string; renter: string }): Promise<LeaseStatus>;
  machineStatus(machineId: string): Promise<MachineStatusReport>;
  /**
   * The machine with its validation round (who holds its orders, their slots, who reported),
   * for deciding whether a validator may make a check VM; `not_found` for an unknown machine.
   */
  machine(machineId: string): Promise<Machine>;
  close(): void;
}

/** The ledger of this very process. */
export class LocalLedgerVerification implements VerificationService {
  readonly kind = "ledger";

  constructor(private readonly ledger: Ledger) {}

  leaseStatus(query: { machineId: string; renter: string }): Promise<LeaseStatus> {
    return Promise.resolve().then(() => this.ledger.leaseStatus(query.machineId, query.renter));
  }

  machineStatus(machineId: string): Promise<MachineStatusReport> {
    return Promise.resolve().then((): MachineStatusReport => {
      try {
        const machine = this.ledger.getMachine(machineId);
        return {
          found: true,
          status: machine.status,
          detail: machine.failure_reason ?? machine.status,
        };
      } catch (error) {
        if (error instanceof RpcError && error.code === "not_found") return { found: false };
        throw error;
      }
    });
  }

  machine(machineId: string): Promise<Machine> {
    return Promise.resolve().then(() => this.ledger.getMachine(machineId));
  }

  close(): void {
    // The ledger belongs to whoever opened it.
  }
}

type LedgerReadMethod = Extract<Method, "ledger.lease_status" | "ledger.machine_get">;

/**
 * How a remote ledger is asked: the worker `call` shape, limited to the
 * reads the lease loop needs. The network layer provides one that sends the
 * request to a seed and waits for its answer.
 */
export type LedgerTransport = <M extends LedgerReadMethod>(
  method: M,
  params: ParamsOf<M>,
) => Promise<ResultOf<M>>;

/** A seed's ledger, through `transport`. */
export class RemoteLedgerVerification implements VerificationService {
  readonly kind = "remote_ledger";

  constructor(private readonly transport: LedgerTransport) {}

  leaseStatus(query: { machineId: string; renter: string }): Promise<LeaseStatus> {
    return this.transport("ledger.lease_status", {
      machine_id: query.machineId,
      renter: query.renter,
    });
  }

  async machineStatus(machineId: string): Promise<MachineStatusReport> {
    try {
      const machine = await this.transport("ledger.machine_get", { machine_id: machineId });
      return {
        found: true,
        status: machine.status,
        detail: machine.failure_reason ?? machine.status,
      };
    } catch (error) {
      if ((error as { code?: string }).code === "not_found") return { found: false };
      throw error;
    }
  }

  machine(machineId: string): Promise<Machine> {
    return this.transport("ledger.machine_get", { machine_id: machineId });
  }

  close(): void {}
}
