/**
 * Storage keys and SCALE decoding for the parts of the DeepBrainChain chain
 * (DeepBrainChain/DeepBrainChain-MainChain) a GPU node reads: who rents a
 * machine until when, and the machine's status. Pure functions, no I/O.
 *
 * From the chain's source (runtime `construct_runtime!`: `OnlineProfile` =
 * index 107, `RentMachine` = 111; `BlockNumber = u32`, `Balance = u128`,
 * 6 000 ms a block, SS58 prefix 42):
 * - `RentMachine::MachineRenterRentedOrders`: double map (Blake2_128Concat
 *   `MachineId`, Blake2_128Concat `AccountId`) -> `Vec<{rent_id: u64,
 *   rent_start: u32, rent_end: u32}>`, a history: renting and each renewal
 *   push an entry;
 * - `RentMachine::RentInfo`: map (Blake2_128Concat `u64`) ->
 *   `RentOrderDetail {machine_id: Vec<u8>, renter: AccountId, rent_start,
 *   confirm_rent, rent_end: u32, stake_amount: u128, rent_status:
 *   WaitingVerifying | Renting | RentExpired, gpu_num: u32, gpu_index:
 *   Vec<u32>}`, removed when the rent ends;
 * - `OnlineProfile::MachinesInfo`: map (Blake2_128Concat `MachineId`) ->
 *   `MachineInfo {controller, machine_stash, renters: Vec<AccountId>,
 *   last_machine_restake, bonding_height, online_height, last_online_height:
 *   u32, init_stake_per_gpu, stake_amount: u128, machine_status, ...}`; only
 *   the fields up to the status are decoded;
 * - `Timestamp::Now`: u64 milliseconds.
 *
 * `MachineId` is `Vec<u8>`: the machine's id text (64 hex characters of its
 * public key) as bytes, SCALE-encoded with its compact length.
 */
import { blake2b } from "@noble/hashes/blake2.js";
import { bytesToHex, hexToBytes } from "@noble/hashes/utils.js";

/** twox128 of the pallet and item names (checked against polkadot-js in the tests). */
export const TWOX128 = {
  RentMachine: "dce96135b0aa38e9b6a3d631512458ba",
  MachineRenterRentedOrders: "330e1044e1cb674d48e362079d53ed25",
  RentInfo: "be78e7d657e51a82dc50ff7424594d6a",
  OnlineProfile: "2885a3060ddfd3ee4dcf7dfee867c9ac",
  MachinesInfo: "8837b1bce969b604719b7692a717f277",
  Timestamp: "f0c365c3cf59d671eb72da0e7a4113c4",
  Now: "9f1f0515f462cdcf84e0f1d6045dfcbb",
} as const;

/** The chain's block time (runtime `MILLISECS_PER_BLOCK`). */
export const DBC_MS_PER_BLOCK = 6_000;

export const TIMESTAMP_NOW_KEY = `0x${TWOX128.Timestamp}${TWOX128.Now}`;

/** Key of `RentMachine::MachineRenterRentedOrders(machineId, renter)`. */
export function rentedOrdersKey(machineId: string, renterAccountId: Uint8Array): string {
  return `0x${TWOX128.RentMachine}${TWOX128.MachineRenterRentedOrders}${
    blake2128Concat(encodeBytes(new TextEncoder().encode(machineId)))
  }${blake2128Concat(renterAccountId)}`;
}

/** Key of `RentMachine::RentInfo(rentId)`. */
export function rentInfoKey(rentId: bigint): string {
  return `0x${TWOX128.RentMachine}${TWOX128.RentInfo}${blake2128Concat(u64(rentId))}`;
}

/** Key of `OnlineProfile::MachinesInfo(machineId)`. */
export function machinesInfoKey(machineId: string): string {
  return `0x${TWOX128.OnlineProfile}${TWOX128.MachinesInfo}${
    blake2128Concat(encodeBytes(new TextEncoder().encode(machineId)))
  }`;
}

export type RentedOrder = { rentId: bigint; rentStart: number; rentEnd: number };

export const RENT_STATUSES = ["WaitingVerifying", "Renting", "RentExpired"] as const;
export type ChainRentStatus = typeof RENT_STATUSES[number];

export type RentOrderDetail = {
  machineId: string;
  renter: Uint8Array;
  rentStart: number;
  confirmRent: number;
  rentEnd: number;
  stakeAmount: bigint;
  rentStatus: ChainRentStatus;
  gpuNum: number;
  gpuIndex: number[];
};

/** `MachineStatus` variants in declaration order (the SCALE index). */
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

/** A SCALE value that does not decode as the chain's type. */
export class ScaleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ScaleError";
  }
}

export function decodeRentedOrders(hex: string): RentedOrder[] {
  const reader = new ScaleReader(hexToBytes(strip0x(hex)));
  const count = reader.compact();
  const orders: RentedOrder[] = [];
  for (let index = 0; index < count; index++) {
    orders.push({ rentId: reader.u64(), rentStart: reader.u32(), rentEnd: reader.u32() });
  }
  reader.end();
  return orders;
}

export function decodeRentOrderDetail(hex: string): RentOrderDetail {
  const reader = new ScaleReader(hexToBytes(strip0x(hex)));
  const machineId = new TextDecoder().decode(reader.bytes(reader.compact()));
  const renter = reader.bytes(32);
  const rentStart = reader.u32();
  const confirmRent = reader.u32();
  const rentEnd = reader.u32();
  const stakeAmount = reader.u128();
  const statusIndex = reader.u8();
  const rentStatus = RENT_STATUSES[statusIndex];
  if (!rentStatus) throw new ScaleError(`unknown RentStatus variant ${statusIndex}`);
  const gpuNum = reader.u32();
  const gpuCount = reader.compact();
  const gpuIndex: number[] = [];
  for (let index = 0; index < gpuCount; index++) gpuIndex.push(reader.u32());
  reader.end();
  return {
    machineId,
    renter,
    rentStart,
    confirmRent,
    rentEnd,
    stakeAmount,
    rentStatus,
    gpuNum,
    gpuIndex,
  };
}

/** The machine's status variant, read from the start of a `MachineInfo` (the rest is left unread). */
export function decodeMachineStatus(hex: string): ChainMachineStatus {
  const reader = new ScaleReader(hexToBytes(strip0x(hex)));
  reader.bytes(32); // controller
  reader.bytes(32); // machine_stash
  const renters = reader.compact();
  reader.bytes(32 * renters);
  reader.bytes(4 * 4); // last_machine_restake, bonding_height, online_height, last_online_height
  reader.bytes(16 * 2); // init_stake_per_gpu, stake_amount
  const index = reader.u8();
  const status = MACHINE_STATUS_VARIANTS[index];
  if (!status) throw new ScaleError(`unknown MachineStatus variant ${index}`);
  return status;
}

export function decodeU64(hex: string): bigint {
  const reader = new ScaleReader(hexToBytes(strip0x(hex)));
  const value = reader.u64();
  reader.end();
  return value;
}

/** A block number from a header's hex `number`. */
export function parseBlockNumber(hex: string): number {
  if (!/^0x[0-9a-fA-F]{1,8}$/.test(hex)) throw new ScaleError(`not a block number: ${hex}`);
  return parseInt(hex.slice(2), 16);
}

function blake2128Concat(data: Uint8Array): string {
  return bytesToHex(blake2b(data, { dkLen: 16 })) + bytesToHex(data);
}

function encodeBytes(data: Uint8Array): Uint8Array {
  const out = new Uint8Array([...compact(data.length), ...data]);
  return out;
}

function compact(value: number): number[] {
  if (value < 1 << 6) return [value << 2];
  if (value < 1 << 14) {
    const encoded = (value << 2) | 0b01;
    return [encoded & 0xff, encoded >> 8];
  }
  if (value < 2 ** 30) {
    const encoded = ((value << 2) | 0b10) >>> 0;
    return [encoded & 0xff, (encoded >> 8) & 0xff, (encoded >> 16) & 0xff, encoded >>> 24];
  }
  throw new RangeError("lengths this large do not occur here");
}

function u64(value: bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, value, true);
  return out;
}

function strip0x(hex: string): string {
  const body = hex.startsWith("0x") ? hex.slice(2) : hex;
  if (!/^([0-9a-fA-F]{2})*$/.test(body)) throw new ScaleError("not hex");
  return body;
}

class ScaleReader {
  #offset = 0;
  constructor(private readonly data: Uint8Array) {}

  bytes(length: number): Uint8Array {
    if (this.#offset + length > this.data.length) {
      throw new ScaleError(`value ends after ${this.data.length} bytes; ${length} more expected`);
    }
    const slice = this.data.slice(this.#offset, this.#offset + length);
    this.#offset += length;
    return slice;
  }

  u8(): number {
    return this.bytes(1)[0]!;
  }

  u32(): number {
    return new DataView(this.bytes(4).buffer).getUint32(0, true);
  }

  u64(): bigint {
    return new DataView(this.bytes(8).buffer).getBigUint64(0, true);
  }

  u128(): bigint {
    const view = new DataView(this.bytes(16).buffer);
    return view.getBigUint64(0, true) | (view.getBigUint64(8, true) << 64n);
  }

  /** A compact integer small enough to be a length. */
  compact(): number {
    const first = this.u8();
    switch (first & 0b11) {
      case 0b00:
        return first >> 2;
      case 0b01:
        return ((first | (this.u8() << 8)) >> 2);
      case 0b10: {
        const rest = this.bytes(3);
        return ((first | (rest[0]! << 8) | (rest[1]! << 16) | (rest[2]! << 24)) >>> 2);
      }
      default:
        throw new ScaleError("a length this large does not occur here");
    }
  }

  end(): void {
    if (this.#offset !== this.data.length) {
      throw new ScaleError(`${this.data.length - this.#offset} bytes left over`);
    }
  }
}
