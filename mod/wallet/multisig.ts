/**
 * Multi-signature accounts the Substrate way (pallet-multisig's
 * `multi_account_id`): the account id is
 * `blake2b-256("modlpy/utilisuba" ++ compact(n) ++ sorted signatory ids ++ threshold as u16 LE)`,
 * so the same signatories and threshold give the same account on the chain,
 * in polkadot-js (`createKeyMulti`) and here, whatever order they are listed in.
 *
 * @example
 * ```ts
 * const account = multisigAccount([alice, bob, charlie], 2);
 * if (account.ok) account.address; // SS58, generic prefix
 * ```
 */
import { blake2b } from "@noble/hashes/blake2.js";
import { decodeSs58, encodeSs58, GENERIC_SS58_PREFIX } from "./ss58.ts";

const MULTISIG_DOMAIN = new TextEncoder().encode("modlpy/utilisuba");
/** pallet-multisig needs at least one other signatory besides the caller. */
export const MIN_MULTISIG_SIGNATORIES = 2;
/** The DeepBrainChain runtime and Polkadot both cap signatories at 100. */
export const MAX_MULTISIG_SIGNATORIES = 100;

/** The account id of `signatories` (32-byte ids, any order, distinct) with `threshold`. */
export function multisigAccountId(
  signatories: readonly Uint8Array[],
  threshold: number,
): Uint8Array {
  const sorted = [...signatories].sort(compareBytes);
  const parts: number[] = [...MULTISIG_DOMAIN, ...compactLength(sorted.length)];
  for (const id of sorted) parts.push(...id);
  parts.push(threshold & 0xff, (threshold >> 8) & 0xff);
  return blake2b(new Uint8Array(parts), { dkLen: 32 });
}

export type MultisigAccount =
  | {
    ok: true;
    /** The multisig account in the node's normal form (generic prefix). */
    address: string;
    /** The signatories in the node's normal form, sorted by account id. */
    signatories: string[];
    threshold: number;
  }
  | { ok: false; reason: string };

/** Derives the multisig account of SS58 `addresses` and `threshold`, or says why it cannot. */
export function multisigAccount(addresses: readonly string[], threshold: number): MultisigAccount {
  if (addresses.length < MIN_MULTISIG_SIGNATORIES || addresses.length > MAX_MULTISIG_SIGNATORIES) {
    return {
      ok: false,
      reason:
        `a multisig account has ${MIN_MULTISIG_SIGNATORIES} to ${MAX_MULTISIG_SIGNATORIES} signatories`,
    };
  }
  if (!Number.isInteger(threshold) || threshold < 1 || threshold > addresses.length) {
    return { ok: false, reason: `threshold must be an integer from 1 to ${addresses.length}` };
  }
  const ids: Uint8Array[] = [];
  for (const address of addresses) {
    const decoded = decodeSs58(address);
    if (!decoded) return { ok: false, reason: `${address} is not an SS58 account address` };
    ids.push(decoded.accountId);
  }
  ids.sort(compareBytes);
  for (let index = 1; index < ids.length; index++) {
    if (compareBytes(ids[index - 1]!, ids[index]!) === 0) {
      return { ok: false, reason: "a signatory is listed twice" };
    }
  }
  return {
    ok: true,
    address: encodeSs58(multisigAccountId(ids, threshold), GENERIC_SS58_PREFIX),
    signatories: ids.map((id) => encodeSs58(id, GENERIC_SS58_PREFIX)),
    threshold,
  };
}

/** SCALE compact encoding of a length below 2^14 (all a signatory list can be). */
function compactLength(length: number): number[] {
  if (length < 64) return [length << 2];
  const value = (length << 2) | 0b01;
  return [value & 0xff, (value >> 8) & 0xff];
}

function compareBytes(left: Uint8Array, right: Uint8Array): number {
  const length = Math.min(left.length, right.length);
  for (let index = 0; index < length; index++) {
    const difference = left[index]! - right[index]!;
    if (difference !== 0) return difference;
  }
  return left.length - right.length;
}
