/**
 * Substrate SS58 addresses of 32-byte account ids (sr25519 and ed25519 public
 * keys, multisig accounts): base58 of `prefix ++ account id ++ checksum`,
 * where the checksum is the first two bytes of
 * `blake2b-512("SS58PRE" ++ prefix ++ account id)`. Prefixes below 64 take one
 * byte, prefixes 64 to 16383 two (Substrate's `ss58-registry` encoding).
 *
 * The node keeps accounts in one normal form, {@link normalizeAccount}: the
 * generic prefix 42 that the DeepBrainChain chain also uses (runtime
 * `SS58Prefix = 42`), so the same key written under another prefix is the same
 * account.
 *
 * @example
 * ```ts
 * const decoded = decodeSs58("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY");
 * decoded?.prefix; // 42
 * encodeSs58(decoded!.accountId, 42); // the same address
 * ```
 */
import { base58 } from "@scure/base";
import { blake2b } from "@noble/hashes/blake2.js";

/** Substrate's generic prefix; the DeepBrainChain runtime uses it too. */
export const GENERIC_SS58_PREFIX = 42;
const ACCOUNT_ID_BYTES = 32;
const CHECKSUM_BYTES = 2;
const CHECKSUM_CONTEXT = new TextEncoder().encode("SS58PRE");
const MAX_PREFIX = 16383;
/** Longest SS58 text of a 32-byte account (two prefix bytes); anything longer is not one. */
const MAX_ADDRESS_CHARS = 50;

export type DecodedAddress = { accountId: Uint8Array; prefix: number };

/** The account id and prefix of an SS58 address of a 32-byte account; `undefined` if it is not one. */
export function decodeSs58(address: string): DecodedAddress | undefined {
  if (address.length === 0 || address.length > MAX_ADDRESS_CHARS) return undefined;
  let bytes: Uint8Array;
  try {
    bytes = base58.decode(address);
  } catch {
    return undefined;
  }
  let prefix: number;
  let prefixBytes: number;
  const first = bytes[0];
  if (first === undefined) return undefined;
  if (first < 64) {
    prefix = first;
    prefixBytes = 1;
  } else if (first < 128) {
    const second = bytes[1];
    if (second === undefined) return undefined;
    // Two-byte form: the inverse of encodePrefix below.
    prefix = ((first & 0b0011_1111) << 2) | (second >> 6) | ((second & 0b0011_1111) << 8);
    prefixBytes = 2;
  } else {
    return undefined;
  }
  if (bytes.length !== prefixBytes + ACCOUNT_ID_BYTES + CHECKSUM_BYTES) return undefined;
  const body = bytes.subarray(0, prefixBytes + ACCOUNT_ID_BYTES);
  const checksum = ss58Checksum(body);
  const given = bytes.subarray(prefixBytes + ACCOUNT_ID_BYTES);
  if (checksum[0] !== given[0] || checksum[1] !== given[1]) return undefined;
  return { accountId: bytes.slice(prefixBytes, prefixBytes + ACCOUNT_ID_BYTES), prefix };
}

/** The SS58 address of a 32-byte account id under `prefix`. */
export function encodeSs58(accountId: Uint8Array, prefix = GENERIC_SS58_PREFIX): string {
  if (accountId.length !== ACCOUNT_ID_BYTES) {
    throw new RangeError(`an account id is ${ACCOUNT_ID_BYTES} bytes`);
  }
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > MAX_PREFIX) {
    throw new RangeError(`an SS58 prefix is an integer from 0 to ${MAX_PREFIX}`);
  }
  const body = new Uint8Array([...encodePrefix(prefix), ...accountId]);
  const checksum = ss58Checksum(body).subarray(0, CHECKSUM_BYTES);
  return base58.encode(new Uint8Array([...body, ...checksum]));
}

/** The node's normal form of an address (generic prefix), or `undefined` when it is not an SS58 account. */
export function normalizeAccount(address: string): string | undefined {
  const decoded = decodeSs58(address);
  return decoded ? encodeSs58(decoded.accountId, GENERIC_SS58_PREFIX) : undefined;
}

function encodePrefix(prefix: number): number[] {
  if (prefix < 64) return [prefix];
  return [
    ((prefix & 0b1111_1100) >> 2) | 0b0100_0000,
    (prefix >> 8) | ((prefix & 0b0000_0011) << 6),
  ];
}

function ss58Checksum(body: Uint8Array): Uint8Array {
  const input = new Uint8Array(CHECKSUM_CONTEXT.length + body.length);
  input.set(CHECKSUM_CONTEXT);
  input.set(body, CHECKSUM_CONTEXT.length);
  return blake2b(input, { dkLen: 64 });
}
