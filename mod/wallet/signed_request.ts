/**
 * THE message a wallet signs to authorise one request: the only definition,
 * used by the node to check and by clients (and tests) to sign.
 *
 * ```text
 * dbc-request-v1
 * <METHOD>                 upper case, e.g. POST
 * <path and query>         exactly as sent, e.g. /api/v1/ledger/rentals?x=1
 * <account>                the acting account, SS58 with the generic prefix 42:
 *                          the wallet, or the multisig account derived from
 *                          multisig_wallets and multisig_threshold
 * <body digest>            lower-case hex SHA-256 of the canonical body (below)
 * <timestamp>              milliseconds since the Unix epoch, decimal
 * <nonce>                  the request's nonce
 * ```
 *
 * Lines are joined with a single `\n`, with no trailing newline, and the text
 * is UTF-8 encoded. The canonical body is the JSON body with the signature
 * fields removed (`sign`, `multisig_signs`, and `signs` inside
 * `multisig_accounts`), written as RFC 8785 JSON (JCS: object keys sorted by
 * UTF-16 code units, no white space, ECMAScript number and string forms, i.e.
 * `JSON.stringify` with sorted keys); a request without a body digests the
 * empty string. So a body changed after signing, another path, another
 * method, another time or another nonce all change the message.
 *
 * Every signer of a multisig request signs this same message (same nonce and
 * timestamp). A wallet may sign it raw or `<Bytes>`-wrapped (polkadot-js).
 *
 * Original clients signed only the nonce ({@link legacyNonceMessage}); the
 * node accepts that only when `auth_legacy_nonce_signing` is on.
 *
 * @example
 * ```ts
 * const text = canonicalRequestMessage({
 *   method: "POST", pathAndQuery: "/api/v1/ledger/rentals", account: alice,
 *   body: { machine_id: "m1", unit: "hour", count: 2 }, timestampMs: Date.now(), nonce: "n-1",
 * });
 * const sign = u8aToHex(pair.sign(new TextEncoder().encode(text)));
 * ```
 */
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex } from "@noble/hashes/utils.js";

export const SIGNED_REQUEST_VERSION = "dbc-request-v1";

/** Top-level body fields that carry signatures and so are left out of the body digest. */
export const SIGNATURE_BODY_FIELDS = ["sign", "multisig_signs"] as const;

export type RequestToSign = {
  method: string;
  pathAndQuery: string;
  /** The acting account, SS58 with the generic prefix 42. */
  account: string;
  /** The parsed JSON body, or `undefined` when the request has none. */
  body: unknown;
  timestampMs: number;
  nonce: string;
};

/** The exact text a wallet signs for `request`; throws on a field that would make it ambiguous. */
export function canonicalRequestMessage(request: RequestToSign): string {
  if (!/^[A-Z]{1,16}$/.test(request.method)) throw new RangeError("method: expected upper case");
  for (
    const [name, value] of [
      ["path", request.pathAndQuery],
      ["account", request.account],
      ["nonce", request.nonce],
    ] as const
  ) {
    if (value.length === 0 || /[^\x21-\x7e]/.test(value)) {
      throw new RangeError(`${name}: expected printable ASCII without spaces`);
    }
  }
  if (!Number.isSafeInteger(request.timestampMs) || request.timestampMs < 0) {
    throw new RangeError("timestamp: expected milliseconds since the epoch");
  }
  return [
    SIGNED_REQUEST_VERSION,
    request.method,
    request.pathAndQuery,
    request.account,
    bodyDigest(request.body),
    String(request.timestampMs),
    request.nonce,
  ].join("\n");
}

/** What original clients sign: the nonce, nothing else (accepted only with legacy signing on). */
export function legacyNonceMessage(nonce: string): string {
  return nonce;
}

/** Hex SHA-256 of the canonical body (signature fields left out); of "" when there is no body. */
export function bodyDigest(body: unknown): string {
  const text = body === undefined ? "" : canonicalJson(withoutSignatures(body));
  return bytesToHex(sha256(new TextEncoder().encode(text)));
}

/** RFC 8785 (JCS) form of a JSON value: sorted keys, no white space. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") {
    const text = JSON.stringify(value);
    if (text === undefined) throw new TypeError("not a JSON value");
    return text;
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, item]) => item !== undefined)
    .sort(([left], [right]) => (left < right ? -1 : left > right ? 1 : 0));
  return `{${
    entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(",")
  }}`;
}

function withoutSignatures(body: unknown): unknown {
  if (body === null || typeof body !== "object" || Array.isArray(body)) return body;
  const copy: Record<string, unknown> = { ...(body as Record<string, unknown>) };
  for (const field of SIGNATURE_BODY_FIELDS) delete copy[field];
  const accounts = copy.multisig_accounts;
  if (accounts !== null && typeof accounts === "object" && !Array.isArray(accounts)) {
    const { signs: _signs, ...rest } = accounts as Record<string, unknown>;
    copy.multisig_accounts = rest;
  }
  return copy;
}
