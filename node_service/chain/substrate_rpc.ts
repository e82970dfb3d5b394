/**
 * The verification service of the original network: the DeepBrainChain chain,
 * read over its WebSocket JSON-RPC (`state_getStorage` of the rent-machine
 * and online-profile pallets; see `substrate_storage.ts` for keys and types).
 * All reads of one question are made at one block, so they agree.
 *
 * Rental times on the chain are block numbers; they become milliseconds from
 * the block's own time stamp (`Timestamp::Now`) and the chain's 6-second
 * blocks.
 *
 * @example
 * ```ts
 * const chain = new SubstrateVerification(new JsonRpcWebSocket(url, { timeoutMs: 10_000 }));
 * await chain.leaseStatus({ machineId, renter }); // { state: "active", rental_id, ends_at } | ...
 * ```
 */
import { z } from "zod";
import {
  decodeSs58,
  type LeaseStatus,
  type Machine,
  type MachineStatus,
  RpcError,
} from "../../mod/mod.ts";
import type { JsonRpcWebSocket } from "./json_rpc_ws.ts";
import {
  type ChainMachineStatus,
  DBC_MS_PER_BLOCK,
  decodeMachineStatus,
  decodeRentedOrders,
  decodeRentOrderDetail,
  decodeU64,
  machinesInfoKey,
  parseBlockNumber,
  rentedOrdersKey,
  rentInfoKey,
  TIMESTAMP_NOW_KEY,
} from "./substrate_storage.ts";
import type { MachineStatusReport, VerificationService } from "../verification/mod.ts";

const HashSchema = z.string().regex(/^0x[0-9a-fA-F]{64}$/);
const HeaderSchema = z.object({ number: z.string() });
const StorageSchema = z.string().regex(/^0x([0-9a-fA-F]{2})*$/).nullable();

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

type ChainView = { hash: string; block: number; nowMs: number };

export class SubstrateVerification implements VerificationService {
  readonly kind = "substrate";

  constructor(private readonly rpc: JsonRpcWebSocket) {}

  async leaseStatus(query: { machineId: string; renter: string }): Promise<LeaseStatus> {
    const renter = decodeSs58(query.renter);
    if (!renter) throw new Error(`${query.renter} is not an SS58 account address`);
    const view = await this.#view();
    const ordersHex = await this.#storage(rentedOrdersKey(query.machineId, renter.accountId), view);
    if (ordersHex === null) return { state: "none" };
    const orders = decodeRentedOrders(ordersHex);
    if (orders.length === 0) return { state: "none" };
    // Renting and each renewal push an entry; the latest end is what counts.
    const latest = orders.reduce((best, order) => (order.rentEnd > best.rentEnd ? order : best));
    const detailHex = await this.#storage(rentInfoKey(latest.rentId), view);
    const detail = detailHex === null ? undefined : decodeRentOrderDetail(detailHex);
    const rentEnd = detail?.rentEnd ?? latest.rentEnd;
    const endsAt = view.nowMs + (rentEnd - view.block) * DBC_MS_PER_BLOCK;
    const running = detail !== undefined && detail.rentStatus !== "RentExpired" &&
      rentEnd > view.block;
    return running
      ? { state: "active", rental_id: latest.rentId.toString(), ends_at: endsAt }
      : { state: "ended", rental_id: latest.rentId.toString(), ended_at: endsAt };
  }

  /** The chain's committee checks machines itself: no validator makes check VMs through this node. */
  machine(_machineId: string): Promise<Machine> {
    return Promise.reject(
      new RpcError(
        "forbidden",
        "not supported: under verification_service=substrate the chain's committee verifies machines, not validators' check VMs on this node",
      ),
    );
  }

  async machineStatus(machineId: string): Promise<MachineStatusReport> {
    const view = await this.#view();
    const infoHex = await this.#storage(machinesInfoKey(machineId), view);
    if (infoHex === null) return { found: false };
    const chainStatus = decodeMachineStatus(infoHex);
    return { found: true, status: STATUS_OF[chainStatus], detail: chainStatus };
  }

  close(): void {
    this.rpc.close();
  }

  /** The latest block, its number and its time: every read of one question is made there. */
  async #view(): Promise<ChainView> {
    const hash = HashSchema.parse(await this.rpc.call("chain_getBlockHash", []));
    const header = HeaderSchema.parse(await this.rpc.call("chain_getHeader", [hash]));
    const nowHex = await this.#storage(TIMESTAMP_NOW_KEY, { hash });
    if (nowHex === null) throw new Error("the chain has no Timestamp::Now");
    return { hash, block: parseBlockNumber(header.number), nowMs: Number(decodeU64(nowHex)) };
  }

  async #storage(key: string, view: Pick<ChainView, "hash">): Promise<string | null> {
    return StorageSchema.parse(await this.rpc.call("state_getStorage", [key, view.hash]));
  }
}
