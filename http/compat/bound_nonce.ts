/**
 * Binding a bare-nonce signature to one request, for the clients that want
 * it. The original signs the nonce and nothing else, so a client-end that
 * relays a signed request (or anyone who reads it on the way) may send the
 * same `wallet`/`nonce`/`sign` with another path or `additional` to the GPU
 * node first: a `stop` becomes a `delete`, and the nonce, fresh, is
 * accepted. The protocol cannot prevent that for the clients that exist.
 *
 * But the nonce is "any unique string" to the original, so a client may make
 * it say what it is for: `dbcbind1-<64 hex>-<unique>`, the hex being the
 * SHA-256 of the request's path and query, its `peer_nodes_list[0]` and its
 * `additional` (RFC 8785 JSON), one per line. The GPU node checks a nonce of
 * that form against the request it received and refuses (-3) one made for
 * another, so a relayed signature serves its own request only. A nonce of
 * any other form is checked as before: original clients work unchanged, and
 * only a client that binds is protected. A session pair (`session_id_sign`)
 * signs the session id, a capability the renter handed out: it binds
 * nothing, as in the original.
 */
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex } from "@noble/hashes/utils.js";
import { canonicalJson } from "../../mod/mod.ts";

export const BOUND_NONCE_PREFIX = "dbcbind1-";
const BOUND_NONCE = /^dbcbind1-([0-9a-f]{64})-[\x21-\x7e]{8,128}$/;

/** What a bound nonce commits to: the request as the GPU node receives it. */
export type BoundRequest = {
  /** Path and query, e.g. `/api/v1/tasks/stop/vm-1`. */
  uri: string;
  /** `peer_nodes_list[0]`; "" when the list is empty. */
  peer: string;
  additional: Record<string, unknown>;
};

/** Hex SHA-256 of the request's path and query, peer and `additional`. */
export function boundRequestDigest(request: BoundRequest): string {
  const text = [request.uri, request.peer, canonicalJson(request.additional)].join("\n");
  return bytesToHex(sha256(new TextEncoder().encode(text)));
}

/** A fresh nonce bound to `request`: what a client that wants the binding signs. */
export function boundNonce(request: BoundRequest, unique: string = crypto.randomUUID()): string {
  return `${BOUND_NONCE_PREFIX}${boundRequestDigest(request)}-${unique}`;
}

/**
 * Why one of `nonces` cannot serve `request` (bound to another, or malformed after the prefix);
 * `undefined` when each is unbound or bound to this request.
 */
export function boundNonceRefusal(nonces: string[], request: BoundRequest): string | undefined {
  const digest = boundRequestDigest(request);
  for (const nonce of nonces) {
    if (!nonce.startsWith(BOUND_NONCE_PREFIX)) continue;
    const match = BOUND_NONCE.exec(nonce);
    if (!match) return `nonce ${nonce.slice(0, 24)}... is not a well-formed bound nonce`;
    if (match[1] !== digest) return "the nonce is bound to another request";
  }
  return undefined;
}
