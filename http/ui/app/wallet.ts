/**
 * The renter's wallet in the browser: a key typed in (a dev account such as
 * `//Alice`, a hex seed, or a BIP-39 mnemonic with an optional derivation
 * path), made by the same wallet library as the CLI's (polkadot-js keyring)
 * and kept in this page's memory only; or an account of a browser extension,
 * which keeps its key and asks before each signature.
 */
import { Keyring } from "@polkadot/keyring";
import { cryptoWaitReady, mnemonicValidate } from "@polkadot/util-crypto";
import { type Signer, walletSigner } from "../../client_signer.ts";
import { GENERIC_SS58_PREFIX } from "../../../mod/wallet/mod.ts";
import { type ExtensionAccount, extensionAccounts } from "./extension.ts";

export type KeyType = "sr25519" | "ed25519";

export type Wallet = {
  address: string;
  /** How the dashboard names it: the dev account, "mnemonic", or the extension's name for it. */
  label: string;
  /** A typed-in key signs at once; an extension asks its user each time. */
  kind: "key" | "extension";
  signer: Signer;
};

/** The well-known development accounts, for local networks. */
export const DEV_ACCOUNTS = ["Alice", "Bob", "Charlie", "Dave", "Eve", "Ferdie"] as const;

/** A wallet from a secret typed in; throws with a message that never repeats the secret. */
export async function walletFromSecret(secret: string, type: KeyType): Promise<Wallet> {
  const text = secret.trim();
  if (text === "") throw new Error("type a dev account (//Alice), a seed or a mnemonic");
  const isMnemonic = /\s/.test(text);
  if (isMnemonic) {
    // The phrase is the part before a derivation path.
    const phrase = text.split("/")[0]!.trim().split(/\s+/).join(" ");
    if (!mnemonicValidate(phrase)) throw new Error("not a valid BIP-39 mnemonic");
  }
  await cryptoWaitReady();
  const keyring = new Keyring({ type, ss58Format: GENERIC_SS58_PREFIX });
  let pair;
  try {
    pair = keyring.addFromUri(text);
  } catch (error) {
    throw new Error(`not a usable key: ${(error as Error).message}`);
  }
  const dev = /^\/\/([A-Za-z]+)$/.exec(text)?.[1];
  return {
    address: pair.address,
    label: dev ? `//${dev} (${type})` : isMnemonic ? `mnemonic (${type})` : `seed (${type})`,
    kind: "key",
    signer: walletSigner(pair),
  };
}

/** The accounts of the browser's wallet extensions, as wallets. */
export async function extensionWallets(origin: string): Promise<Wallet[]> {
  const accounts: ExtensionAccount[] = await extensionAccounts(origin);
  return accounts.map((account) => ({
    address: account.address,
    label: `${account.name} (${account.source})`,
    kind: "extension",
    signer: account.signer,
  }));
}
