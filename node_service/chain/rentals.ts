/**
 * A machine's rent orders on the DBC chain, read through the runtime's
 * metadata, and what they mean for one renter (pure {@link leaseFromOrders}).
 *
 * The RentMachine pallet (spec 400) keeps:
 * - `MachineRentOrder(machine)`: the live orders' ids and the GPUs they use;
 * - `RentInfo(rent_id)`: one order: renter, `rent_start`, `rent_end` (blocks),
 *   `rent_status` (`WaitingVerifying` until the renter confirms, within 15
 *   minutes, then `Renting`), `gpu_num`, `gpu_index`; removed when the rent
 *   ends or the confirm window passes unconfirmed;
 * - `MachineRenterRentedOrders(machine, renter)`: a history, pushed at each
 *   confirm and renewal, kept after the order is gone.
 */
import "./env_guard.ts";
import { hexToU8a, u8aToHex } from "@polkadot/util";
import { decodeAddress } from "@polkadot/util-crypto";
import { z } from "zod";
import type { LeaseStatus } from "../../mod/mod.ts";
import { type ChainAt, type ChainView, DBC_MS_PER_BLOCK, storageItem } from "./dbc_api.ts";

export const RENT_STATUSES = ["WaitingVerifying", "Renting", "RentExpired"] as const;
export type ChainRentStatus = typeof RENT_STATUSES[number];

/** One live rent order (`RentInfo`). */
export type RentOrder = {
  rentId: bigint;
  machineId: string;
  /** The renter's account id, 0x hex. */
  renter: string;
  rentStart: number;
  confirmRent: number;
  rentEnd: number;
  /** Reserved until confirmed (then paid), in the chain's smallest unit. */
  stakeAmount: bigint;
  status: ChainRentStatus;
  gpuNum: number;
  gpuIndex: number[];
};

/** One entry of `MachineRenterRentedOrders`. */
export type RentedOrder = { rentId: bigint; rentStart: number; rentEnd: number };

const Block = z.number().int().nonnegative();
const Big = z.union([z.number().int().nonnegative(), z.string().regex(/^0x[0-9a-f]+$/i)])
  .transform((value) => BigInt(value));
const MachineRentOrderSchema = z.object({ rentOrder: z.array(Big), usedGpu: z.array(Block) });
const RentInfoSchema = z.object({
  machineId: z.string().regex(/^0x([0-9a-f]{2})*$/i),
  renter: z.string(),
  rentStart: Block,
  confirmRent: Block,
  rentEnd: Block,
  stakeAmount: Big,
  rentStatus: z.string(),
  gpuNum: Block,
  gpuIndex: z.array(Block),
});
const RentedOrdersSchema = z.array(
  z.object({ rentId: Big, rentStart: Block, rentEnd: Block }),
);

/** The live orders of `machineId`, at the block `at` was made for. */
export async function readMachineOrders(at: ChainAt, machineId: string): Promise<RentOrder[]> {
  const machineOrders = MachineRentOrderSchema.parse(
    (await storageItem(at, "rentMachine", "machineRentOrder")(machineId)).toJSON(),
  );
  const infos = await Promise.all(machineOrders.rentOrder.map((id) => readRentOrder(at, id)));
  return infos.filter((order): order is RentOrder => order !== undefined);
}

/** `RentInfo(rentId)`, or `undefined` when the order is gone. */
export async function readRentOrder(at: ChainAt, rentId: bigint): Promise<RentOrder | undefined> {
  const found = await storageItem(at, "rentMachine", "rentInfo")(rentId);
  if (found.isEmpty) return undefined;
  const info = RentInfoSchema.parse(found.toJSON());
  const status = RENT_STATUSES.find((known) =>
    known.toLowerCase() === info.rentStatus.toLowerCase()
  );
  if (!status) throw new Error(`rent order ${rentId}: unknown rent status ${info.rentStatus}`);
  return {
    rentId,
    machineId: new TextDecoder().decode(hexToU8a(info.machineId)),
    renter: u8aToHex(decodeAddress(info.renter)),
    rentStart: info.rentStart,
    confirmRent: info.confirmRent,
    rentEnd: info.rentEnd,
    stakeAmount: info.stakeAmount,
    status,
    gpuNum: info.gpuNum,
    gpuIndex: info.gpuIndex,
  };
}

/** The renter's confirmed and renewed orders of the machine, oldest first. */
export async function readRentedHistory(
  at: ChainAt,
  machineId: string,
  renterAccountId: Uint8Array,
): Promise<RentedOrder[]> {
  const entries = await storageItem(at, "rentMachine", "machineRenterRentedOrders")(
    machineId,
    u8aToHex(renterAccountId),
  );
  return RentedOrdersSchema.parse(entries.toJSON());
}

/**
 * What the chain says of `renter`'s rental of the machine at `view`: its live
 * order that ends last (being confirmed or confirmed) is active until its end
 * block; without one, the latest entry of its history ended; without that,
 * none. Block numbers become times from the block's own time stamp.
 */
export function leaseFromOrders(input: {
  view: ChainView;
  renter: string;
  orders: readonly RentOrder[];
  history: readonly RentedOrder[];
}): LeaseStatus {
  const { view } = input;
  const timeOf = (block: number) => view.nowMs + (block - view.block) * DBC_MS_PER_BLOCK;
  const current = currentOrder(input.orders, input.renter, view.block);
  if (current) {
    return {
      state: "active",
      rental_id: current.rentId.toString(),
      ends_at: timeOf(current.rentEnd),
      // The chain gave the order these GPUs of the machine; creates on it get those.
      gpu_index: current.gpuIndex,
    };
  }
  const past = latest(input.history);
  if (past) {
    return {
      state: "ended",
      rental_id: past.rentId.toString(),
      ended_at: timeOf(Math.min(past.rentEnd, view.block)),
    };
  }
  return { state: "none" };
}

/** The renter's live order that ends last, with its GPUs: what a GPU-share create may use. */
export function currentOrder(
  orders: readonly RentOrder[],
  renter: string,
  block: number,
): RentOrder | undefined {
  return latest(
    orders.filter((order) =>
      order.renter === renter && order.status !== "RentExpired" && order.rentEnd > block
    ),
  );
}

function latest<T extends { rentEnd: number }>(items: readonly T[]): T | undefined {
  return items.reduce<T | undefined>(
    (best, item) => (best === undefined || item.rentEnd > best.rentEnd ? item : best),
    undefined,
  );
}
