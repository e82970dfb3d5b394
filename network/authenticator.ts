/**
 * The cryptography the protocol asks for, behind one interface, so the
 * protocol code does not care whether an answer comes now or later: the real
 * node signs and verifies with the runtime's native Ed25519 (synchronous;
 * WebCrypto, asynchronous, where asked), while the simulation
 * uses {@link simulatedAuthenticator}, which answers at once and costs
 * nothing (the crypto benchmark measures that cost separately).
 */
import {
  concatBytes,
  Ed25519Signer,
  newEphemeralKey,
  open,
  publicKeyFromNodeId,
  seal,
  verifyEd25519,
  verifyEd25519Native,
  verifyEd25519Sync,
  x25519PublicKeyFromEd25519,
  x25519SecretFromEd25519,
} from "../mod/mod.ts";

export type MaybePromise<T> = T | Promise<T>;

export type SealedBox = { ephemeralPublicKey: Uint8Array; ciphertext: Uint8Array };

export interface Authenticator {
  sign(message: Uint8Array): MaybePromise<Uint8Array>;
  /** False for a bad signature and for an id that carries no Ed25519 key. */
  verify(nodeId: string, message: Uint8Array, signature: Uint8Array): MaybePromise<boolean>;
  /**
   * Encrypts to `targetId`'s key; `header(ephemeralPublicKey)` builds the
   * associated data, which names the ephemeral key itself.
   */
  seal(
    targetId: string,
    header: (ephemeralPublicKey: Uint8Array) => Uint8Array,
    plaintext: Uint8Array,
  ): MaybePromise<SealedBox | undefined>;
  /** Decrypts a box sealed to this node; `undefined` when it was not, or was altered. */
  open(
    ephemeralPublicKey: Uint8Array,
    header: Uint8Array,
    ciphertext: Uint8Array,
  ): MaybePromise<Uint8Array | undefined>;
}

/** Runs `next` on a value that may or may not be a promise, staying synchronous when it can. */
export function andThen<T, U>(
  value: MaybePromise<T>,
  next: (resolved: T) => MaybePromise<U>,
): MaybePromise<U> {
  return value instanceof Promise ? value.then(next) : next(value);
}

/** Which Ed25519 implementation signs and verifies (the keys and the checks are the same). */
export type SignatureImplementation = "native" | "webcrypto" | "noble";

/**
 * The node's real cryptography: the runtime's native Ed25519 for signatures
 * (the fast path: synchronous, so a relay's check of a broadcast costs no
 * promise and no turn of the event loop), noble for sealing. `webcrypto`
 * answers asynchronously; `noble` is the pure-JavaScript reference, which the
 * simulation uses. Native and noble answer synchronously, which virtual-clock
 * tests need (WebCrypto finishes on its own time, not the test clock's).
 */
export function nodeAuthenticator(
  seed: Uint8Array,
  options: { signatures?: SignatureImplementation } = {},
): Authenticator {
  const signer = new Ed25519Signer(seed);
  const x25519Secret = x25519SecretFromEd25519(seed);
  const x25519PublicKey = x25519PublicKeyFromEd25519(signer.publicKey);
  const implementation = options.signatures ?? "native";
  const sign = {
    native: (message: Uint8Array) => signer.signNative(message),
    webcrypto: (message: Uint8Array) => signer.sign(message),
    noble: (message: Uint8Array) => signer.signSync(message),
  }[implementation];
  const verify = {
    native: verifyEd25519Native,
    webcrypto: verifyEd25519,
    noble: verifyEd25519Sync,
  }[implementation];
  return {
    sign,
    verify: (nodeId, message, signature) => {
      const publicKey = publicKeyFromNodeId(nodeId);
      if (!publicKey) return false;
      return verify(publicKey, message, signature);
    },
    seal: (targetId, header, plaintext) => {
      const recipientPublicKey = publicKeyFromNodeId(targetId);
      if (!recipientPublicKey) return undefined;
      const ephemeral = newEphemeralKey();
      const ciphertext = seal({
        ephemeral,
        recipientPublicKey,
        associatedData: header(ephemeral.publicKey),
        plaintext,
      });
      return { ephemeralPublicKey: ephemeral.publicKey, ciphertext };
    },
    open: (ephemeralPublicKey, header, ciphertext) =>
      open({
        recipient: { x25519Secret, x25519PublicKey },
        ephemeralPublicKey,
        associatedData: header,
        ciphertext,
      }),
  };
}

const ZERO_SIGNATURE = new Uint8Array(64);
const ZERO_KEY = new Uint8Array(32);

/**
 * For the simulation only: no secrecy and no authenticity. Signatures are
 * zeros and always verify; sealing wraps the plaintext with the target id so
 * that only the target "opens" it. Everything answers synchronously.
 */
export function simulatedAuthenticator(nodeId: string): Authenticator {
  const encoder = new TextEncoder();
  const self = encoder.encode(nodeId);
  return {
    sign: () => ZERO_SIGNATURE,
    verify: () => true,
    seal: (targetId, _header, plaintext) => ({
      ephemeralPublicKey: ZERO_KEY,
      ciphertext: concatBytes(encoder.encode(targetId), plaintext),
    }),
    open: (_ephemeral, _header, ciphertext) => {
      if (ciphertext.length < self.length) return undefined;
      for (let index = 0; index < self.length; index++) {
        if (ciphertext[index] !== self[index]) return undefined;
      }
      return ciphertext.slice(self.length);
    },
  };
}
