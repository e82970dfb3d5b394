/**
 * Writes to the DBC chain: an extrinsic signed by a wallet, submitted, and
 * followed until it is in a block. The runtime's refusal comes back as a
 * {@link ChainRefusal} naming the pallet's error and its documentation
 * (`rentMachine.InsufficientValue`), whether the transaction pool refused it
 * (an account that cannot pay the fee) or the call failed in its block.
 *
 * @example
 * ```ts
 * const api = await connection.api();
 * const done = await submitExtrinsic(api, api.tx.rentMachine.rentMachine(id, 1, 300), renter);
 * done.events; // ["rentMachine.Rent", ...]
 * ```
 */
import "./env_guard.ts";
import type { ApiPromise } from "@polkadot/api";
import type { SubmittableExtrinsic } from "@polkadot/api/types";
import type { KeyringPair } from "@polkadot/keyring/types";
import type { DispatchError, EventRecord } from "@polkadot/types/interfaces";

/** The chain refused the extrinsic; `error` is `pallet.Name` where the runtime named one. */
export class ChainRefusal extends Error {
  constructor(readonly error: string, readonly detail: string) {
    super(
      detail === ""
        ? `the chain refused it: ${error}`
        : `the chain refused it: ${error} (${detail})`,
    );
    this.name = "ChainRefusal";
  }
}

export type Included = {
  blockHash: string;
  blockNumber: number;
  /** `section.method` of each event the extrinsic emitted. */
  events: string[];
  /** The extrinsic's events with their data, as polkadot-js JSON. */
  eventData: { name: string; data: unknown[] }[];
};

/** What the transaction pool's `1010` refusals mean, by polkadot-js's `InvalidTransaction` name. */
const POOL_REFUSALS: Record<string, string> = {
  payment: "the account cannot pay the transaction fee (no funds)",
  stale: "the nonce was already used",
  future: "the nonce is ahead of the account's",
  badProof: "the signature does not verify",
};

/**
 * What the RentMachine pallet's errors mean (spec 400 carries no documentation for them), from
 * the pallet's source.
 */
const RENT_MACHINE_ERRORS: Record<string, string> = {
  "rentMachine.InsufficientValue":
    "the renter's free balance cannot cover the rent fee it must reserve",
  "rentMachine.PayTxFeeFailed": "the renter cannot pay the chain's fixed fee for an order (10 DBC)",
  "rentMachine.GPUNotEnough": "the machine has fewer free GPUs than asked for",
  "rentMachine.MachineNotRentable": "the machine is not online (nor rented with GPUs to spare)",
  "rentMachine.OnlyHalfHourAllowed": "a rent lasts a whole number of half hours (300 blocks)",
  "rentMachine.ExpiredConfirm": "the 15-minute window to confirm the rent has passed",
  "rentMachine.NoOrderExist": "no order of this renter waits in that state",
  "rentMachine.NotMachineRenter": "the order belongs to another renter",
  "rentMachine.ReletTooShort": "a renewal lasts at least 10 minutes (100 blocks)",
  "rentMachine.StatusNotAllowed": "the machine is not in the rented state",
  "rentMachine.GetMachinePriceFailed": "the chain has no standard GPU price to price the machine",
  "rentMachine.UndefinedRentPot": "the chain has no rent fee account set",
  "rentMachine.Unknown": "no such machine or order",
};

export type SubmitOptions = {
  /**
   * Valid at any block instead of for 64 blocks from now: for a test chain whose block numbers
   * jumped (chopsticks' `unsafeBlockHeight`), where the mortal era's birth block has no hash.
   */
  immortal?: boolean;
  /** How long to wait for the block that includes it (default {@link INCLUSION_TIMEOUT_MS}). */
  timeoutMs?: number;
};

/** About ten of the chain's 6-second blocks. */
export const INCLUSION_TIMEOUT_MS = 60_000;

/** Signs `tx` with `signer`, submits it and resolves once it is in a block, or rejects with why. */
export async function submitExtrinsic(
  api: ApiPromise,
  tx: SubmittableExtrinsic<"promise">,
  signer: KeyringPair,
  options: SubmitOptions = {},
): Promise<Included> {
  let unsubscribe: (() => void) | undefined;
  try {
    return await new Promise<Included>((resolve, reject) => {
      const timeoutMs = options.timeoutMs ?? INCLUSION_TIMEOUT_MS;
      const seen: string[] = [];
      let included = false;
      const timer = setTimeout(
        () =>
          reject(
            new Error(
              `the extrinsic was not in a block within ${timeoutMs} ms (its states: ${
                seen.join(", ") || "none"
              })`,
            ),
          ),
        timeoutMs,
      );
      const settle = <T>(finish: (value: T) => void) => (value: T) => {
        clearTimeout(timer);
        finish(value);
      };
      resolve = settle(resolve);
      reject = settle(reject);
      tx.signAndSend(signer, { nonce: -1, ...(options.immortal ? { era: 0 } : {}) }, (result) => {
        seen.push(result.status.type);
        if (result.status.isInvalid || result.status.isDropped || result.status.isUsurped) {
          reject(new ChainRefusal(result.status.type, "the transaction pool dropped it"));
          return;
        }
        // polkadot-js drops the InBlock update when Finalized follows before the block's events
        // are fetched (chopsticks sends both within 100 ms): either one means it is in a block.
        if ((!result.status.isInBlock && !result.status.isFinalized) || included) return;
        included = true;
        if (result.dispatchError) {
          reject(refusalOf(api, result.dispatchError));
          return;
        }
        const blockHash =
          (result.status.isInBlock ? result.status.asInBlock : result.status.asFinalized).toHex();
        void api.rpc.chain.getHeader(blockHash).then((header) =>
          resolve({
            blockHash,
            blockNumber: header.number.toNumber(),
            events: result.events.map(({ event }) => `${event.section}.${event.method}`),
            eventData: result.events.map(({ event }: EventRecord) => ({
              name: `${event.section}.${event.method}`,
              data: event.data.map((value) => value.toJSON()),
            })),
          })
        ).catch(reject);
      }).then((stop) => {
        unsubscribe = stop;
      }).catch((error: Error) => reject(poolRefusal(error)));
    });
  } finally {
    unsubscribe?.();
  }
}

/** The runtime's error, by pallet and name with its documentation where it is a module error. */
export function refusalOf(api: ApiPromise, error: DispatchError): ChainRefusal {
  if (error.isModule) {
    const meta = api.registry.findMetaError(error.asModule);
    const name = `${meta.section}.${meta.name}`;
    return new ChainRefusal(name, meta.docs.join(" ").trim() || (RENT_MACHINE_ERRORS[name] ?? ""));
  }
  return new ChainRefusal(error.type, JSON.stringify(error.toHuman()));
}

/** A `1010: Invalid Transaction` answer of the pool, said in words. */
function poolRefusal(error: Error): Error {
  const match = /^1010: .*?\{"invalid":\{"(\w+)"/.exec(error.message) ??
    /^1010: .*?"(\w+)"/.exec(error.message);
  if (!match) return error;
  const reason = match[1]!;
  return new ChainRefusal(
    `invalid transaction (${reason})`,
    POOL_REFUSALS[reason] ?? error.message,
  );
}
