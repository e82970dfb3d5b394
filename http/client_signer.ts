/**
 * How an API client signs a request: the one canonical message of
 * `mod/wallet/signed_request.ts`, carried in the `X-DBC-*` headers that
 * `mod/wallet/auth.ts` reads. A {@link Signer} is anything that has an SS58
 * address and signs bytes with its key (a polkadot-js `KeyringPair` is one as
 * it is, a browser extension or a hardware wallet can be wrapped into one); a
 * {@link MultisigSigner} makes a multisig account act through several of them.
 *
 * @example
 * ```ts
 * const headers = await signatureHeaders(pair, {
 *   method: "POST", pathAndQuery: "/api/v1/ledger/rentals", body,
 * }, { timestampMs: Date.now(), nonce: newNonce() });
 * ```
 */
import {
  AUTH_HEADERS,
  canonicalRequestMessage,
  multisigAccount,
  normalizeAccount,
  // The wallet concern's own face, not mod/mod.ts: the dashboard bundles this file for browsers,
  // which cannot load the rest of the kernel (SQLite, metrics).
} from "../mod/wallet/mod.ts";

/** One wallet: its SS58 address and a way to sign bytes with its key (sr25519 or ed25519). */
export type Signer = {
  readonly address: string;
  sign(message: Uint8Array): Uint8Array | Promise<Uint8Array>;
};

/** A multisig account acting through `signers`, at least `threshold` of its `signatories`. */
export type MultisigSigner = {
  readonly kind: "multisig";
  /** The multisig account (SS58, generic prefix), derived from signatories and threshold. */
  readonly address: string;
  /** Every signatory of the account, signing or not. */
  readonly signatories: readonly string[];
  readonly threshold: number;
  /** The signatories who sign this client's requests. */
  readonly signers: readonly Signer[];
};

/** A wallet key as polkadot-js holds it: a `KeyringPair` fits, among others. */
export type WalletKey = {
  readonly address: string;
  sign(message: Uint8Array, options?: { withType?: boolean }): Uint8Array;
};

const BYTES_OPEN = new TextEncoder().encode("<Bytes>");
const BYTES_CLOSE = new TextEncoder().encode("</Bytes>");

/**
 * A {@link Signer} that signs as browser wallet extensions do (`signRaw`: the
 * message wrapped in `<Bytes>…</Bytes>`), and names its scheme in the
 * signature's first byte (a `MultiSignature`). The node then checks one
 * scheme over one message, instead of trying each in turn: about half the
 * time of checking a bare sr25519 signature of the raw message.
 */
export function walletSigner(key: WalletKey): Signer {
  return {
    address: key.address,
    sign: (message) => {
      const wrapped = new Uint8Array(BYTES_OPEN.length + message.length + BYTES_CLOSE.length);
      wrapped.set(BYTES_OPEN);
      wrapped.set(message, BYTES_OPEN.length);
      wrapped.set(BYTES_CLOSE, BYTES_OPEN.length + message.length);
      return key.sign(wrapped, { withType: true });
    },
  };
}

/** What a client can sign with: one wallet or a multisig account. */
export type RequestSigner = Signer | MultisigSigner;

/**
 * A multisig signer. `signatories` defaults to the signers' addresses; give it
 * when some signatories do not sign. Fewer signers than the threshold is
 * allowed (the node then refuses with `threshold_not_met`), so tests can show it.
 */
export function multisigSigner(options: {
  signers: readonly Signer[];
  threshold: number;
  signatories?: readonly string[];
}): MultisigSigner {
  const signatories = options.signatories ?? options.signers.map((signer) => signer.address);
  const account = multisigAccount(signatories, options.threshold);
  if (!account.ok) throw new RangeError(`multisig signer: ${account.reason}`);
  const members = new Set(account.signatories);
  for (const signer of options.signers) {
    if (!members.has(normalizeAccount(signer.address) ?? signer.address)) {
      throw new RangeError(`multisig signer: ${signer.address} is not one of the signatories`);
    }
  }
  return {
    kind: "multisig",
    address: account.address,
    signatories: [...signatories],
    threshold: account.threshold,
    signers: [...options.signers],
  };
}

export function isMultisigSigner(signer: RequestSigner): signer is MultisigSigner {
  return "kind" in signer && signer.kind === "multisig";
}

/** The request as the node will see it: upper-case method, path with query, parsed JSON body. */
export type SignableRequest = { method: string; pathAndQuery: string; body: unknown };

/** A nonce no other request is likely to use: printable, well under the 128-character limit. */
export function newNonce(): string {
  return `n-${crypto.randomUUID()}`;
}

/** The `X-DBC-*` headers (lower case) that authorise `request` as `signer` at `timestampMs`. */
export async function signatureHeaders(
  signer: RequestSigner,
  request: SignableRequest,
  options: { timestampMs: number; nonce: string },
): Promise<Record<string, string>> {
  // The node checks against the account in its normal form (generic prefix 42).
  const account = normalizeAccount(signer.address) ?? signer.address;
  const message = new TextEncoder().encode(canonicalRequestMessage({
    method: request.method.toUpperCase(),
    pathAndQuery: request.pathAndQuery,
    account,
    body: request.body,
    timestampMs: options.timestampMs,
    nonce: options.nonce,
  }));
  const common = {
    [AUTH_HEADERS.nonce]: options.nonce,
    [AUTH_HEADERS.timestamp]: String(options.timestampMs),
  };
  if (!isMultisigSigner(signer)) {
    return {
      [AUTH_HEADERS.wallet]: signer.address,
      ...common,
      [AUTH_HEADERS.sign]: toHex(await signer.sign(message)),
    };
  }
  const signs = await Promise.all(
    signer.signers.map(async (one) => `${one.address}:${toHex(await one.sign(message))}`),
  );
  return {
    ...common,
    [AUTH_HEADERS.multisigWallets]: signer.signatories.join(","),
    [AUTH_HEADERS.multisigThreshold]: String(signer.threshold),
    [AUTH_HEADERS.multisigSigns]: signs.join(","),
  };
}

function toHex(bytes: Uint8Array): string {
  let text = "0x";
  for (const byte of bytes) text += byte.toString(16).padStart(2, "0");
  return text;
}
