/**
 * Wallets with fixed keys for the targets that need real signatures:
 * ed25519 (noble) and sr25519 (@scure/sr25519), the two schemes the node
 * accepts, with their SS58 addresses (generic prefix).
 */
import { ed25519 } from "@noble/curves/ed25519.js";
import * as sr25519 from "@scure/sr25519";
import { encodeSs58, type WalletScheme } from "../../mod/mod.ts";

export type FuzzWallet = {
  address: string;
  publicKey: Uint8Array;
  scheme: WalletScheme;
  sign(message: Uint8Array): Uint8Array;
};

function seed(index: number): Uint8Array {
  return new Uint8Array(32).map((_, position) => (index * 31 + position * 7 + 1) & 0xff);
}

export function ed25519Wallet(index: number): FuzzWallet {
  const secret = seed(index);
  const publicKey = ed25519.getPublicKey(secret);
  return {
    address: encodeSs58(publicKey),
    publicKey,
    scheme: "ed25519",
    sign: (message) => ed25519.sign(message, secret),
  };
}

export function sr25519Wallet(index: number): FuzzWallet {
  const secret = sr25519.secretFromSeed(seed(100 + index));
  const publicKey = sr25519.getPublicKey(secret);
  return {
    address: encodeSs58(publicKey),
    publicKey,
    scheme: "sr25519",
    sign: (message) => sr25519.sign(secret, message),
  };
}

export const toHex = (bytes: Uint8Array) =>
  `0x${[...bytes].map((byte) => byte.toString(16).padStart(2, "0")).join("")}`;
