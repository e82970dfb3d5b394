/**
 * The verification service of the original network: the DBC chain, read
 * through its runtime's metadata (`@polkadot/api`, see `dbc_api.ts`): the
 * RentMachine pallet's orders for who rents the machine until when
 * (`rentals.ts`), OnlineProfile's `MachinesInfo` for its status, OnlineCommittee
 * for the committee round a check VM is made in (`committee.ts`). All reads of
 * one question are made at one block, so they agree; block numbers become
 * times from that block's own time stamp.
 *
 * @example
 * ```ts
 * const chain = new SubstrateVerification(new DbcConnection(url, { timeoutMs: 10_000 }));
 * await chain.leaseStatus({ machineId, renter }); // { state: "active", rental_id, ends_at } | ...
 * ```
 */
import "./env_guard.ts";
import { u8aToHex } from "@polkadot/util";
import { z } from "zod";
import {
  decodeSs58,
  type LeaseStatus,
  type Machine,
  type MachineStatus,
  RpcError,
} from "../../mod/mod.ts";
import type { MachineStatusReport, VerificationService } from "../verification/mod.ts";
import { readCommitteeMachine } from "./committee.ts";
import { chainView, type DbcConnection, storageItem } from "./dbc_api.ts";
import {
  currentOrder,
  leaseFromOrders,
  readMachineOrders,
  readRentedHistory,
  type RentOrder,
} from "./rentals.ts";

/** `MachineStatus` variants of spec 400, in declaration order. */
export const MACHINE_STATUS_VARIANTS = [
  "AddingCustomizeInfo",
  "DistributingOrder",
  "CommitteeVerifying",
  "CommitteeRefused",
  "WaitingFulfill",
  "Online",
  "StakerReportOffline",
  "ReporterReportOffline",
  "Creating",
  "Rented",
  "Exit",
] as const;
export type ChainMachineStatus = typeof MACHINE_STATUS_VARIANTS[number];

/** How the chain's machine statuses read in this node's terms. */
const STATUS_OF: Record<ChainMachineStatus, MachineStatus | "offline"> = {
  AddingCustomizeInfo: "unverified",
  DistributingOrder: "verifying",
  CommitteeVerifying: "verifying",
  CommitteeRefused: "failed",
  WaitingFulfill: "verifying",
  Online: "online",
  StakerReportOffline: "offline",
  ReporterReportOffline: "offline",
  Creating: "leased",
  Rented: "leased",
  Exit: "offline",
};

const MachineInfoSchema = z.object({ machineStatus: z.unknown() });

export class SubstrateVerification implements VerificationService {
  readonly kind = "substrate";

  constructor(private readonly chain: DbcConnection) {}

  leaseStatus(query: { machineId: string; renter: string }): Promise<LeaseStatus> {
    const renter = renterAccount(query.renter);
    return this.chain.use("lease status", async (api) => {
      const view = await chainView(api);
      const at = await api.at(view.hash);
      const [orders, history] = await Promise.all([
        readMachineOrders(at, query.machineId),
        readRentedHistory(at, query.machineId, renter),
      ]);
      return leaseFromOrders({ view, renter: u8aToHex(renter), orders, history });
    });
  }

  /** The renter's live order of the machine (being confirmed or confirmed), with its GPUs. */
  currentOrder(query: { machineId: string; renter: string }): Promise<RentOrder | undefined> {
    const renter = renterAccount(query.renter);
    return this.chain.use("rent order", async (api) => {
      const view = await chainView(api);
      const orders = await readMachineOrders(await api.at(view.hash), query.machineId);
      return currentOrder(orders, u8aToHex(renter), view.block);
    });
  }

  /**
   * The machine with the chain's committee round (OnlineCommittee): its booked members are the
   * validators, their verification slots the slots, so a member may make the check VM in its own.
   */
  machine(machineId: string): Promise<Machine> {
    return this.chain.use("committee round", async (api) => {
      const view = await chainView(api);
      const machine = await readCommitteeMachine(await api.at(view.hash), view, machineId);
      if (!machine) throw new RpcError("not_found", `machine ${machineId} is not on the chain`);
      return machine;
    });
  }

  machineStatus(machineId: string): Promise<MachineStatusReport> {
    return this.chain.use("machine status", async (api) => {
      const view = await chainView(api);
      const found = await storageItem(await api.at(view.hash), "onlineProfile", "machinesInfo")(
        machineId,
      );
      if (found.isEmpty) return { found: false };
      const chainStatus = statusName(MachineInfoSchema.parse(found.toJSON()).machineStatus);
      return { found: true, status: STATUS_OF[chainStatus], detail: chainStatus };
    });
  }

  close(): void {
    void this.chain.close();
  }
}

function renterAccount(renter: string): Uint8Array {
  const decoded = decodeSs58(renter);
  if (!decoded) throw new Error(`${renter} is not an SS58 account address`);
  return decoded.accountId;
}

/** The variant of a `MachineStatus` in polkadot-js JSON: `{ online: null }`, `{ rented: null }`, ... */
function statusName(json: unknown): ChainMachineStatus {
  const key = typeof json === "string"
    ? json
    : json && typeof json === "object"
    ? Object.keys(json)[0]
    : undefined;
  const name = MACHINE_STATUS_VARIANTS.find((variant) =>
    variant.toLowerCase() === key?.toLowerCase()
  );
  if (!name) throw new Error(`unknown machine status ${JSON.stringify(json)}`);
  return name;
}
