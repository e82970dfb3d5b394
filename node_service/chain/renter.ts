/**
 * A renter on the DBC chain: rent a machine (`rentMachine.rentMachine`: GPU
 * count and duration in blocks), confirm the order once the instance runs
 * (`confirmRent`, within 15 minutes of renting), renew it
 * (`reletMachine`). Each call is signed by the renter's wallet, or approved
 * through `multisig.asMulti` by one signatory of a multisig renter (the call
 * runs when the threshold-th signatory approves). The runtime decides; its
 * refusals come back as {@link ChainRefusal}.
 *
 * @example
 * ```ts
 * const renter = new DbcRenter(api, wallet);
 * const rent = await renter.rent({ machineId, gpus: 1, blocks: 300 });
 * await renter.confirm(rent.order.rentId);
 * ```
 */
import "./env_guard.ts";
import type { ApiPromise } from "@polkadot/api";
import type { SubmittableExtrinsic } from "@polkadot/api/types";
import type { KeyringPair } from "@polkadot/keyring/types";
import { BN, hexToU8a, u8aToHex } from "@polkadot/util";
import { blake2AsHex, decodeAddress, encodeMultiAddress } from "@polkadot/util-crypto";
import { z } from "zod";
import { chainView, storageItem } from "./dbc_api.ts";
import { ChainRefusal, type Included, submitExtrinsic, type SubmitOptions } from "./extrinsics.ts";
import { readRentOrder, type RentOrder } from "./rentals.ts";

/** `dbc_support::ONE_MINUTE`: the chain's 6-second blocks. */
export const BLOCKS_PER_MINUTE = 10;
/** RentMachine's `WAITING_CONFIRMING_DELAY`: the renter confirms within 15 minutes of renting. */
export const CONFIRM_WINDOW_BLOCKS = 15 * BLOCKS_PER_MINUTE;
/** A rent lasts whole half hours (`OnlyHalfHourAllowed`). */
export const RENT_STEP_BLOCKS = 30 * BLOCKS_PER_MINUTE;
/** A renewal lasts at least 10 minutes (`ReletTooShort`). */
export const MIN_RELET_BLOCKS = 10 * BLOCKS_PER_MINUTE;
/** pallet-multisig allows at most this many signatories on DBC (`MaxSignatories`). */
export const MAX_MULTISIG_SIGNATORIES = 100;

/** A multisig renter: all its signatories (this wallet among them) and its threshold. */
export type MultisigRenter = { signatories: string[]; threshold: number };

export type RenterOptions = SubmitOptions & { multisig?: MultisigRenter };

/** What one write did: in which block, and for a multisig, whether it ran or only approved. */
export type WriteResult = Included & {
  /** `executed`: the call ran; `approved`: a multisig approval was recorded, more are needed. */
  outcome: "executed" | "approved";
};

export type RentResult = WriteResult & {
  /** The order as the chain holds it after the block (absent while a multisig waits). */
  order?: RentOrder;
  /** The fee reserved until the confirm (the rent for the whole duration). */
  reserved?: bigint;
};

/** The `DispatchResult` a `MultisigExecuted` event carries, as polkadot-js JSON. */
const InnerResultSchema = z.object({
  err: z.object({
    module: z.object({ index: z.number(), error: z.string() }).optional(),
  }).passthrough().optional(),
});

const MachineSchema = z.object({
  machineInfoDetail: z.object({ committeeUploadInfo: z.object({ gpuNum: z.number().int() }) }),
});

export class DbcRenter {
  constructor(
    private readonly api: ApiPromise,
    private readonly wallet: KeyringPair,
    private readonly options: RenterOptions = {},
  ) {
    if (options.multisig) multisigAddress(options.multisig, wallet.address);
  }

  /** The account that rents: the wallet, or the multisig account it signs for. */
  get renter(): string {
    return this.options.multisig
      ? multisigAddress(this.options.multisig, this.wallet.address)
      : this.wallet.address;
  }

  /** The machine's GPU count and how many are rented now. */
  async machineGpus(machineId: string): Promise<{ total: number; rented: number }> {
    const at = await this.api.at((await chainView(this.api)).hash);
    const info = await storageItem(at, "onlineProfile", "machinesInfo")(machineId);
    if (info.isEmpty) throw new ChainRefusal("no such machine", `${machineId} is not on the chain`);
    const total = MachineSchema.parse(info.toJSON()).machineInfoDetail.committeeUploadInfo.gpuNum;
    const rented = z.number().int().parse(
      (await storageItem(at, "onlineProfile", "machineRentedGPU")(machineId)).toJSON(),
    );
    return { total, rented };
  }

  async rent(input: { machineId: string; gpus: number; blocks: number }): Promise<RentResult> {
    if (input.blocks <= 0 || input.blocks % RENT_STEP_BLOCKS !== 0) {
      throw new RangeError(
        `a rent lasts whole half hours (${RENT_STEP_BLOCKS} blocks); got ${input.blocks} blocks`,
      );
    }
    const call = this.#tx("rentMachine", "rentMachine")(input.machineId, input.gpus, input.blocks);
    const done = await this.#write(call);
    if (done.outcome === "approved") return done;
    const rentEvent = done.eventData.find((event) => event.name === "rentMachine.Rent");
    if (!rentEvent) throw new Error(`the block has no rentMachine.Rent event: ${done.events}`);
    const rentId = BigInt(z.union([z.number(), z.string()]).parse(rentEvent.data[0]));
    const reserved = BigInt(z.union([z.number(), z.string()]).parse(rentEvent.data[5]));
    return { ...done, order: await this.order(rentId, done.blockHash), reserved };
  }

  /**
   * Confirms the order. Past the confirm window the chain has already cancelled it (the rent
   * fee it reserved went back): said as a {@link ChainRefusal} before anything is sent.
   */
  async confirm(rentId: bigint): Promise<WriteResult & { order?: RentOrder }> {
    const view = await chainView(this.api);
    const order = await this.order(rentId, view.hash);
    if (!order) {
      throw new ChainRefusal(
        "no such order",
        `order ${rentId} is not on the chain: it ended, or was cancelled because nobody confirmed ` +
          `it within ${CONFIRM_WINDOW_BLOCKS} blocks (15 minutes) of renting, and its reserved ` +
          "fee went back to the renter; rent again",
      );
    }
    if (
      order.status === "WaitingVerifying" && view.block > order.rentStart + CONFIRM_WINDOW_BLOCKS
    ) {
      throw new ChainRefusal(
        "rentMachine.ExpiredConfirm",
        `the window to confirm order ${rentId} closed at block ${
          order.rentStart + CONFIRM_WINDOW_BLOCKS
        }; the chain cancels it and returns the reserved fee`,
      );
    }
    const done = await this.#write(this.#tx("rentMachine", "confirmRent")(rentId));
    return { ...done, order: await this.order(rentId, done.blockHash) };
  }

  /** Renews the order by `blocks` (at least 10 minutes; the chain caps the end at 60 days). */
  async renew(rentId: bigint, blocks: number): Promise<WriteResult & { order?: RentOrder }> {
    if (blocks < MIN_RELET_BLOCKS) {
      throw new RangeError(`a renewal lasts at least ${MIN_RELET_BLOCKS} blocks; got ${blocks}`);
    }
    const done = await this.#write(this.#tx("rentMachine", "reletMachine")(rentId, blocks));
    return { ...done, order: await this.order(rentId, done.blockHash) };
  }

  /** The order at `blockHash` (the latest block when not given). */
  async order(rentId: bigint, blockHash?: string): Promise<RentOrder | undefined> {
    const hash = blockHash ?? (await chainView(this.api)).hash;
    return await readRentOrder(await this.api.at(hash), rentId);
  }

  #tx(pallet: string, call: string): (...args: unknown[]) => SubmittableExtrinsic<"promise"> {
    const make = this.api.tx[pallet]?.[call];
    if (!make) throw new Error(`the chain's runtime has no call ${pallet}.${call}`);
    return make;
  }

  async #write(call: SubmittableExtrinsic<"promise">): Promise<WriteResult> {
    const multisig = this.options.multisig;
    if (!multisig) {
      return {
        ...(await submitExtrinsic(this.api, call, this.wallet, this.options)),
        outcome: "executed",
      };
    }
    const account = multisigAddress(multisig, this.wallet.address);
    const own = u8aToHex(decodeAddress(this.wallet.address));
    const others = multisig.signatories.filter((address) =>
      u8aToHex(decodeAddress(address)) !== own
    );
    const callHash = blake2AsHex(call.method.toU8a(), 256);
    const pending = await storageItem(
      await this.api.at((await chainView(this.api)).hash),
      "multisig",
      "multisigs",
    )(
      account,
      callHash,
    );
    const timepoint = pending.isEmpty
      ? null
      : z.object({ when: z.object({ height: z.number(), index: z.number() }) }).parse(
        pending.toJSON(),
      ).when;
    const weight = (await call.paymentInfo(account)).weight;
    const approve = this.#tx("multisig", "asMulti")(
      multisig.threshold,
      others,
      timepoint,
      call.method,
      weight,
    );
    const done = await submitExtrinsic(this.api, approve, this.wallet, this.options);
    const executed = done.eventData.find((event) => event.name === "multisig.MultisigExecuted");
    if (!executed) return { ...done, outcome: "approved" };
    // The multisig extrinsic succeeds even when the call it runs fails: the event says which.
    const result = InnerResultSchema.safeParse(executed.data[4]);
    const moduleError = result.success ? result.data.err?.module : undefined;
    if (moduleError) {
      const meta = this.api.registry.findMetaError({
        index: new BN(moduleError.index),
        error: hexToU8a(moduleError.error),
      });
      throw new ChainRefusal(`${meta.section}.${meta.name}`, meta.docs.join(" ").trim());
    }
    if (result.success && result.data.err) {
      throw new ChainRefusal("the multisig's call failed", JSON.stringify(result.data.err));
    }
    return { ...done, outcome: "executed" };
  }
}

/** The multisig account of `multisig`, checking that `wallet` is one of its signatories. */
export function multisigAddress(multisig: MultisigRenter, wallet: string): string {
  const { signatories, threshold } = multisig;
  if (signatories.length < 2 || signatories.length > MAX_MULTISIG_SIGNATORIES) {
    throw new RangeError(`a multisig has 2 to ${MAX_MULTISIG_SIGNATORIES} signatories`);
  }
  if (!Number.isInteger(threshold) || threshold < 2 || threshold > signatories.length) {
    throw new RangeError(`the threshold is 2 to ${signatories.length}; got ${threshold}`);
  }
  const own = u8aToHex(decodeAddress(wallet));
  if (!signatories.some((address) => u8aToHex(decodeAddress(address)) === own)) {
    throw new RangeError(`the wallet ${wallet} is not one of the multisig's signatories`);
  }
  return encodeMultiAddress(signatories, threshold, 42);
}
