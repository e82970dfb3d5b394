/**
 * Node-to-node cryptography: Ed25519 signatures and sealed boxes.
 *
 * Signing and verifying on the node's hot paths use the runtime's native
 * Ed25519 through `node:crypto`, synchronously: a relay checks every
 * broadcast, and the native call (about 26 µs a verify here) is 12 times
 * faster than pure JavaScript and 1.4 times WebCrypto's, whose asynchronous
 * operation and promise also cost the relay a turn of its event loop
 * (`scripts/bench_crypto.ts`). WebCrypto stays for callers that want it;
 * noble's Ed25519 is the audited reference and the cross-check in tests. Sealing encrypts to a node's public key: an ephemeral X25519 key,
 * the recipient's X25519 key derived from its Ed25519 key, HKDF-SHA256 over
 * the shared secret, and ChaCha20-Poly1305 with the caller's envelope header
 * as associated data, so a header that was altered in transit fails to open.
 *
 * @example
 * ```ts
 * const signer = new Ed25519Signer(seed);
 * const signature = await signer.sign(bytes);
 * await verifyEd25519(publicKey, bytes, signature); // true
 *
 * const ephemeral = newEphemeralKey();
 * const box = seal({ ephemeral, recipientPublicKey, associatedData: header, plaintext });
 * open({ secretSeed, ephemeralPublicKey: ephemeral.publicKey, associatedData: header, ciphertext: box });
 * ```
 */
import { Buffer } from "node:buffer";
import {
  createPrivateKey,
  createPublicKey,
  type KeyObject,
  sign as nativeSign,
  verify as nativeVerify,
} from "node:crypto";
import { ed25519, x25519 } from "@noble/curves/ed25519.js";
import { chacha20poly1305 } from "@noble/ciphers/chacha.js";
import { hkdf } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";

/** RFC 8410 PKCS#8 wrapping of a 32-byte Ed25519 seed, the form WebCrypto imports. */
const PKCS8_ED25519_PREFIX = fromHex("302e020100300506032b657004220420");
/** RFC 8410 SubjectPublicKeyInfo wrapping of a 32-byte Ed25519 public key. */
const SPKI_ED25519_PREFIX = fromHex("302a300506032b6570032100");
const SEAL_INFO = new TextEncoder().encode("dbc/seal/v1");
const KEY_BYTES = 32;
const NONCE_BYTES = 12;
/** Imported WebCrypto public keys kept for reuse; relays see the same origins again and again. */
const VERIFY_KEY_CACHE_LIMIT = 4096;

/** Signs with one Ed25519 seed; the WebCrypto key is imported once, on first use. */
export class Ed25519Signer {
  readonly publicKey: Uint8Array;
  #seed: Uint8Array;
  #key: Promise<CryptoKey> | undefined;
  #nativeKey: KeyObject | undefined;

  constructor(seed: Uint8Array) {
    if (seed.length !== 32) throw new RangeError("an Ed25519 seed is 32 bytes");
    this.#seed = seed;
    this.publicKey = ed25519.getPublicKey(seed);
  }

  /** Signs with WebCrypto (the fast path). */
  async sign(message: Uint8Array): Promise<Uint8Array> {
    this.#key ??= crypto.subtle.importKey(
      "pkcs8",
      plain(concatBytes(PKCS8_ED25519_PREFIX, this.#seed)),
      { name: "Ed25519" },
      false,
      ["sign"],
    );
    return new Uint8Array(await crypto.subtle.sign("Ed25519", await this.#key, plain(message)));
  }

  /** Signs with the runtime's native Ed25519 (synchronous; the fast path). */
  signNative(message: Uint8Array): Uint8Array {
    this.#nativeKey ??= createPrivateKey({
      key: Buffer.from(concatBytes(PKCS8_ED25519_PREFIX, this.#seed)),
      format: "der",
      type: "pkcs8",
    });
    return new Uint8Array(nativeSign(null, message, this.#nativeKey));
  }

  /** Signs with noble (synchronous; the reference implementation). */
  signSync(message: Uint8Array): Uint8Array {
    return ed25519.sign(message, this.#seed);
  }
}

/** `cache`'s entry for `id`, made by `make` when missing; the oldest entry goes when it is full. */
function cached<V>(cache: Map<string, V>, id: string, make: () => V): V {
  const known = cache.get(id);
  if (known !== undefined) return known;
  if (cache.size >= VERIFY_KEY_CACHE_LIMIT) cache.delete(cache.keys().next().value!);
  const made = make();
  cache.set(id, made);
  return made;
}

const verifyKeys = new Map<string, Promise<CryptoKey>>();

/** Verifies with WebCrypto; false (never a throw) for malformed keys or signatures. */
export async function verifyEd25519(
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): Promise<boolean> {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  const cacheKey = toHex(publicKey);
  const key = cached(
    verifyKeys,
    cacheKey,
    () => crypto.subtle.importKey("raw", plain(publicKey), { name: "Ed25519" }, false, ["verify"]),
  );
  try {
    return await crypto.subtle.verify("Ed25519", await key, plain(signature), plain(message));
  } catch {
    verifyKeys.delete(cacheKey);
    return false;
  }
}

const nativeVerifyKeys = new Map<string, KeyObject | false>();

/**
 * Verifies with the runtime's native Ed25519 (synchronous); false (never a throw) for malformed
 * keys or signatures.
 */
export function verifyEd25519Native(
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  const key = cached(nativeVerifyKeys, toHex(publicKey), () => {
    try {
      return createPublicKey({
        key: Buffer.from(concatBytes(SPKI_ED25519_PREFIX, publicKey)),
        format: "der",
        type: "spki",
      });
    } catch {
      // Not a point on the curve: remembered as such, so a peer repeating it costs a lookup.
      return false;
    }
  });
  if (key === false) return false;
  try {
    return nativeVerify(null, message, key, signature);
  } catch {
    return false;
  }
}

/** Verifies with noble (synchronous); false for malformed input. */
export function verifyEd25519Sync(
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

/** The X25519 public key that belongs to an Ed25519 public key (birational map). */
export function x25519PublicKeyFromEd25519(publicKey: Uint8Array): Uint8Array {
  return ed25519.utils.toMontgomery(publicKey);
}

/** The X25519 secret that belongs to an Ed25519 seed. */
export function x25519SecretFromEd25519(seed: Uint8Array): Uint8Array {
  return ed25519.utils.toMontgomerySecret(seed);
}

export type EphemeralKey = { secretKey: Uint8Array; publicKey: Uint8Array };

/** A fresh X25519 key pair for one sealed message. */
export function newEphemeralKey(): EphemeralKey {
  const secretKey = x25519.utils.randomSecretKey();
  return { secretKey, publicKey: x25519.getPublicKey(secretKey) };
}

export type SealInput = {
  ephemeral: EphemeralKey;
  /** The recipient's Ed25519 public key (the one its node id carries). */
  recipientPublicKey: Uint8Array;
  /** Bytes bound to the ciphertext without being encrypted: the envelope header. */
  associatedData: Uint8Array;
  plaintext: Uint8Array;
};

/** Encrypts `plaintext` so only the holder of the recipient's key can read it. */
export function seal(input: SealInput): Uint8Array {
  const recipientX = x25519PublicKeyFromEd25519(input.recipientPublicKey);
  const shared = x25519.getSharedSecret(input.ephemeral.secretKey, recipientX);
  const { key, nonce } = deriveSealKey(shared, input.ephemeral.publicKey, recipientX);
  return chacha20poly1305(key, nonce, input.associatedData).encrypt(input.plaintext);
}

export type OpenInput = {
  /**
   * The recipient's Ed25519 seed, or its X25519 key pair already derived (faster when reused:
   * each derivation is a scalar multiplication).
   */
  recipient: { seed: Uint8Array } | { x25519Secret: Uint8Array; x25519PublicKey?: Uint8Array };
  ephemeralPublicKey: Uint8Array;
  associatedData: Uint8Array;
  ciphertext: Uint8Array;
};

/** Decrypts a sealed message; `undefined` when it was not sealed to this key or was altered. */
export function open(input: OpenInput): Uint8Array | undefined {
  try {
    const recipient = input.recipient;
    const secret = "seed" in recipient
      ? x25519SecretFromEd25519(recipient.seed)
      : recipient.x25519Secret;
    const recipientX = ("x25519PublicKey" in recipient && recipient.x25519PublicKey) ||
      x25519.getPublicKey(secret);
    const shared = x25519.getSharedSecret(secret, input.ephemeralPublicKey);
    const { key, nonce } = deriveSealKey(shared, input.ephemeralPublicKey, recipientX);
    return chacha20poly1305(key, nonce, input.associatedData).decrypt(input.ciphertext);
  } catch {
    return undefined;
  }
}

/** Key and nonce from one HKDF call; both public keys go into the salt so a key is tied to its pair. */
function deriveSealKey(
  shared: Uint8Array,
  ephemeralPublicKey: Uint8Array,
  recipientX: Uint8Array,
): { key: Uint8Array; nonce: Uint8Array } {
  const okm = hkdf(
    sha256,
    shared,
    concatBytes(ephemeralPublicKey, recipientX),
    SEAL_INFO,
    KEY_BYTES + NONCE_BYTES,
  );
  return { key: okm.subarray(0, KEY_BYTES), nonce: okm.subarray(KEY_BYTES) };
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** WebCrypto takes views of plain ArrayBuffers only; copy the rare view of anything else. */
function plain(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return bytes.buffer instanceof ArrayBuffer
    ? bytes as Uint8Array<ArrayBuffer>
    : new Uint8Array(bytes);
}

function fromHex(hex: string): Uint8Array {
  return Uint8Array.from(hex.match(/../g)!, (pair) => parseInt(pair, 16));
}

function toHex(bytes: Uint8Array): string {
  let hex = "";
  for (const byte of bytes) hex += byte.toString(16).padStart(2, "0");
  return hex;
}
