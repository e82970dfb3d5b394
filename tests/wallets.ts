/**
 * Wallets made by the real wallet library (polkadot-js keyring, the `//Alice`
 * style dev accounts) and a signer that builds requests exactly as a client
 * would: the canonical message from `mod/wallet/signed_request.ts`, signed raw or
 * `<Bytes>`-wrapped as a browser extension does.
 */
import { Keyring } from "@polkadot/keyring";
import type { KeyringPair } from "@polkadot/keyring/types";
import { u8aToHex, u8aWrapBytes } from "@polkadot/util";
import { cryptoWaitReady, encodeMultiAddress } from "@polkadot/util-crypto";
import { canonicalRequestMessage } from "../mod/wallet/signed_request.ts";

export type Wallets = {
  alice: KeyringPair;
  bob: KeyringPair;
  charlie: KeyringPair;
  dave: KeyringPair;
  eve: KeyringPair;
  ferdie: KeyringPair;
  aliceEd: KeyringPair;
  bobEd: KeyringPair;
};

let wallets: Wallets | undefined;

/** The dev accounts, sr25519 and ed25519, made once. */
export async function devWallets(): Promise<Wallets> {
  if (wallets) return wallets;
  await cryptoWaitReady();
  const sr = new Keyring({ type: "sr25519", ss58Format: 42 });
  const ed = new Keyring({ type: "ed25519", ss58Format: 42 });
  wallets = {
    alice: sr.addFromUri("//Alice"),
    bob: sr.addFromUri("//Bob"),
    charlie: sr.addFromUri("//Charlie"),
    dave: sr.addFromUri("//Dave"),
    eve: sr.addFromUri("//Eve"),
    ferdie: sr.addFromUri("//Ferdie"),
    aliceEd: ed.addFromUri("//Alice"),
    bobEd: ed.addFromUri("//Bob"),
  };
  return wallets;
}

let nonceCounter = 0;
/** A nonce no other request in this process used. */
export function freshNonce(): string {
  return `n-${Date.now().toString(36)}-${(nonceCounter++).toString(36)}-${
    crypto.randomUUID().slice(0, 8)
  }`;
}

export type SignOptions = {
  method: string;
  path: string;
  body?: unknown;
  timestamp: number;
  nonce?: string;
  /** Sign the raw message instead of the `<Bytes>` wrapping an extension applies. */
  raw?: boolean;
};

/** The signature (hex) of `pair` over the canonical message for `account`. */
export function signFor(
  pair: KeyringPair,
  account: string,
  options: SignOptions & { nonce: string },
) {
  const text = canonicalRequestMessage({
    method: options.method,
    pathAndQuery: options.path,
    account,
    body: options.body,
    timestampMs: options.timestamp,
    nonce: options.nonce,
  });
  const bytes = new TextEncoder().encode(text);
  return u8aToHex(pair.sign(options.raw ? bytes : u8aWrapBytes(bytes)));
}

/** `X-DBC-*` headers of a request signed by one wallet. */
export function walletHeaders(pair: KeyringPair, options: SignOptions): Record<string, string> {
  const nonce = options.nonce ?? freshNonce();
  return {
    "x-dbc-wallet": pair.address,
    "x-dbc-nonce": nonce,
    "x-dbc-timestamp": String(options.timestamp),
    "x-dbc-sign": signFor(pair, pair.address, { ...options, nonce }),
  };
}

/** `X-DBC-*` headers of a request signed by some signatories of a multisig account. */
export function multisigHeaders(
  signatories: KeyringPair[],
  threshold: number,
  signing: KeyringPair[],
  options: SignOptions,
): Record<string, string> {
  const nonce = options.nonce ?? freshNonce();
  const account = encodeMultiAddress(signatories.map((pair) => pair.address), threshold, 42);
  return {
    "x-dbc-nonce": nonce,
    "x-dbc-timestamp": String(options.timestamp),
    "x-dbc-multisig-wallets": signatories.map((pair) => pair.address).join(","),
    "x-dbc-multisig-threshold": String(threshold),
    "x-dbc-multisig-signs": signing.map((pair) =>
      `${pair.address}:${signFor(pair, account, { ...options, nonce })}`
    ).join(","),
  };
}
