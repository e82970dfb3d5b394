/**
 * Checks a signature that a Substrate wallet made over a message: sr25519
 * (@scure/sr25519, the scheme polkadot-js and the original network use by
 * default) or ed25519 (the node's WebCrypto fast path, noble as reference),
 * over the message itself or over the `<Bytes>…</Bytes>` wrapping that
 * polkadot-js extensions apply to raw payloads (`signRaw`, `u8aWrapBytes`).
 *
 * A signature is 64 bytes (scheme unknown) or a 65-byte `MultiSignature`
 * whose first byte names the scheme (0 ed25519, 1 sr25519). ECDSA accounts
 * are not 32-byte SS58 accounts and are not accepted. When the scheme is
 * unknown, ed25519 is tried first: a WebCrypto check costs about a tenth of an
 * sr25519 one, so an ed25519 wallet is found fast and an sr25519 wallet pays
 * little extra. The `<Bytes>` wrapping is tried before the raw message, since
 * browser extensions (the usual wallets) always wrap.
 *
 * @example
 * ```ts
 * const check = await verifyWalletSignature(accountId, message, signature);
 * if (check.ok) check.scheme; // "sr25519" | "ed25519"
 * ```
 */
import * as sr25519 from "@scure/sr25519";
import { ed25519 } from "@noble/curves/ed25519.js";

export const WALLET_SCHEMES = ["sr25519", "ed25519"] as const;
/** The order schemes are tried in when a signature does not name its own. */
const UNKNOWN_SCHEME_ORDER: readonly WalletScheme[] = ["ed25519", "sr25519"];
export type WalletScheme = typeof WALLET_SCHEMES[number];

const BYTES_OPEN = new TextEncoder().encode("<Bytes>");
const BYTES_CLOSE = new TextEncoder().encode("</Bytes>");
const SIGNATURE_BYTES = 64;
/** Imported WebCrypto keys kept for reuse: a renter signs many requests with one wallet. */
const WEBCRYPTO_KEY_CACHE_LIMIT = 4096;
/** `MultiSignature` discriminants (sp_runtime::MultiSignature). */
const MULTI_SIGNATURE_SCHEME: Record<number, WalletScheme | undefined> = {
  0: "ed25519",
  1: "sr25519",
};

export type WalletSignature = { bytes: Uint8Array; scheme?: WalletScheme };

/** Parses a signature written as hex (with or without `0x`); `undefined` when it is not one. */
export function parseWalletSignature(text: string): WalletSignature | undefined {
  const hex = text.startsWith("0x") || text.startsWith("0X") ? text.slice(2) : text;
  if (!/^[0-9a-fA-F]*$/.test(hex)) return undefined;
  if (hex.length === SIGNATURE_BYTES * 2) return { bytes: hexToBytes(hex) };
  if (hex.length === (SIGNATURE_BYTES + 1) * 2) {
    const bytes = hexToBytes(hex);
    const scheme = MULTI_SIGNATURE_SCHEME[bytes[0]!];
    return scheme ? { bytes: bytes.slice(1), scheme } : undefined;
  }
  return undefined;
}

export type SignatureCheck =
  | { ok: true; scheme: WalletScheme; wrapped: boolean }
  | { ok: false };

export type VerifyOptions = {
  /** Which ed25519 implementation checks: WebCrypto (fast, default) or noble (the reference). */
  ed25519?: "webcrypto" | "noble";
};

/** Whether `signature` is the wallet `accountId`'s signature of `message` (raw or `<Bytes>`-wrapped). */
export async function verifyWalletSignature(
  accountId: Uint8Array,
  message: Uint8Array,
  signature: WalletSignature,
  options: VerifyOptions = {},
): Promise<SignatureCheck> {
  if (accountId.length !== 32 || signature.bytes.length !== SIGNATURE_BYTES) return { ok: false };
  const schemes = signature.scheme ? [signature.scheme] : UNKNOWN_SCHEME_ORDER;
  const candidates: Array<[Uint8Array, boolean]> = isWrapped(message)
    ? [[message, false]]
    : [[wrapBytes(message), true], [message, false]];
  for (const scheme of schemes) {
    for (const [payload, wrapped] of candidates) {
      if (await verifyOne(scheme, accountId, payload, signature.bytes, options)) {
        return { ok: true, scheme, wrapped };
      }
    }
  }
  return { ok: false };
}

/** polkadot-js's `u8aWrapBytes`: what an extension actually signs for a raw payload. */
export function wrapBytes(message: Uint8Array): Uint8Array {
  const out = new Uint8Array(BYTES_OPEN.length + message.length + BYTES_CLOSE.length);
  out.set(BYTES_OPEN);
  out.set(message, BYTES_OPEN.length);
  out.set(BYTES_CLOSE, BYTES_OPEN.length + message.length);
  return out;
}

function isWrapped(message: Uint8Array): boolean {
  if (message.length < BYTES_OPEN.length + BYTES_CLOSE.length) return false;
  return BYTES_OPEN.every((byte, index) => message[index] === byte) &&
    BYTES_CLOSE.every((byte, index) =>
      message[message.length - BYTES_CLOSE.length + index] === byte
    );
}

async function verifyOne(
  scheme: WalletScheme,
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
  options: VerifyOptions,
): Promise<boolean> {
  switch (scheme) {
    case "sr25519":
      try {
        return sr25519.verify(message, signature, publicKey);
      } catch {
        // A public key that is not a valid ristretto point, or a malformed signature.
        return false;
      }
    case "ed25519":
      return options.ed25519 === "noble"
        ? verifyEd25519Noble(publicKey, message, signature)
        : await verifyEd25519WebCrypto(publicKey, message, signature);
  }
}

function verifyEd25519Noble(
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  try {
    return ed25519.verify(signature, message, publicKey);
  } catch {
    return false;
  }
}

/** Imported keys; `null` for a key WebCrypto refuses (not a curve point: it signs nothing). */
const webCryptoKeys = new Map<string, Promise<CryptoKey | null>>();

async function verifyEd25519WebCrypto(
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): Promise<boolean> {
  const cacheKey = publicKey.join(",");
  let key = webCryptoKeys.get(cacheKey);
  if (!key) {
    if (webCryptoKeys.size >= WEBCRYPTO_KEY_CACHE_LIMIT) {
      webCryptoKeys.delete(webCryptoKeys.keys().next().value!);
    }
    key = crypto.subtle.importKey("raw", new Uint8Array(publicKey), "Ed25519", false, ["verify"])
      .catch(() => null);
    webCryptoKeys.set(cacheKey, key);
  }
  const imported = await key;
  if (!imported) return false;
  try {
    return await crypto.subtle.verify(
      "Ed25519",
      imported,
      new Uint8Array(signature),
      new Uint8Array(message),
    );
  } catch {
    return false;
  }
}

function hexToBytes(hex: string): Uint8Array {
  const bytes = new Uint8Array(hex.length / 2);
  for (let index = 0; index < bytes.length; index++) {
    bytes[index] = parseInt(hex.slice(index * 2, index * 2 + 2), 16);
  }
  return bytes;
}
