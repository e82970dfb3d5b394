/**
 * The renter's wallet, made by the real wallet library (polkadot-js keyring)
 * from the environment: `DBC_WALLET_MNEMONIC` (a BIP-39 mnemonic, optionally
 * followed by a derivation path such as `//0`) or `DBC_WALLET_URI` (a secret
 * URI: `//Alice` for the dev accounts, a hex seed, or a mnemonic with a path),
 * of type `DBC_WALLET_TYPE` sr25519 (default) or ed25519. A keyring pair is a
 * `Signer` of the API client as it is.
 *
 * @example
 * ```ts
 * const wallet = await walletFromEnv((name) => Deno.env.get(name));
 * if (wallet.ok && wallet.value) new ApiClient({ baseUrl, signer: wallet.value });
 * ```
 */
import { Keyring } from "@polkadot/keyring";
import type { KeyringPair } from "@polkadot/keyring/types";
import { cryptoWaitReady, mnemonicValidate } from "@polkadot/util-crypto";
import { GENERIC_SS58_PREFIX } from "../../mod/mod.ts";
import type { ParseResult } from "./args.ts";

export const WALLET_ENV = {
  mnemonic: "DBC_WALLET_MNEMONIC",
  uri: "DBC_WALLET_URI",
  type: "DBC_WALLET_TYPE",
} as const;
export const WALLET_TYPES = ["sr25519", "ed25519"] as const;
export type WalletType = typeof WALLET_TYPES[number];

/** The wallet the environment names; `undefined` when it names none. */
export async function walletFromEnv(
  env: (name: string) => string | undefined,
): Promise<ParseResult<KeyringPair | undefined>> {
  const mnemonic = env(WALLET_ENV.mnemonic)?.trim() || undefined;
  const uri = env(WALLET_ENV.uri)?.trim() || undefined;
  const typeText = env(WALLET_ENV.type)?.trim() || "sr25519";
  if (!(WALLET_TYPES as readonly string[]).includes(typeText)) {
    return {
      ok: false,
      message: `${WALLET_ENV.type}: expected ${WALLET_TYPES.join(" or ")}, got "${typeText}"`,
    };
  }
  if (mnemonic && uri) {
    return {
      ok: false,
      message: `set ${WALLET_ENV.mnemonic} or ${WALLET_ENV.uri}, not both`,
    };
  }
  if (!mnemonic && !uri) return { ok: true, value: undefined };
  if (mnemonic) {
    // The phrase is the part before a derivation path.
    const phrase = mnemonic.split("/")[0]!.trim().split(/\s+/).join(" ");
    if (!mnemonicValidate(phrase)) {
      return { ok: false, message: `${WALLET_ENV.mnemonic}: not a valid BIP-39 mnemonic` };
    }
  }
  await cryptoWaitReady();
  const keyring = new Keyring({ type: typeText as WalletType, ss58Format: GENERIC_SS58_PREFIX });
  try {
    return { ok: true, value: keyring.addFromUri((mnemonic ?? uri)!) };
  } catch (error) {
    // The message names what is wrong with the URI, never the secret itself.
    return {
      ok: false,
      message: `${mnemonic ? WALLET_ENV.mnemonic : WALLET_ENV.uri}: ${(error as Error).message}`,
    };
  }
}
