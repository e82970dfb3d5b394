/**
 * What a node says about itself under its own key, for the ledger to check
 * without believing any peer: "I am machine X, owned by wallet W, with this
 * configuration and these prices" (a registration) and "I am alive" (a
 * heartbeat). The node id carries the Ed25519 public key
 * (`mod/keys.ts`), so the ledger verifies a statement from the id alone.
 *
 * The signed bytes begin with their own tag (`dbc/node-statement/v1`) and
 * the kind, so a statement can never be mistaken for a hello proof, a
 * broadcast or another kind of statement; the network worker, which holds
 * the key, signs only statements about its own id (`network.sign_statement`).
 */
import { base64 } from "@scure/base";
import { verifyEd25519Sync } from "./crypto.ts";
import { publicKeyFromNodeId } from "./keys.ts";
import type { NodeStatement } from "./schemas/mod.ts";
import { canonicalJson } from "./wallet/mod.ts";

const TAG = "dbc/node-statement/v1";

/** How far a statement's `signed_at` may be from the checker's clock. */
export const NODE_STATEMENT_MAX_SKEW_MS = 5 * 60_000;

/** The bytes a node signs for `statement`. */
export function nodeStatementBytes(statement: NodeStatement): Uint8Array {
  return new TextEncoder().encode(`${TAG}\n${statement.kind}\n${canonicalJson(statement)}`);
}

export type StatementCheck = { ok: true } | { ok: false; reason: string };

/**
 * Whether `signature` is `statement.machine_id`'s own signature of it, made
 * within {@link NODE_STATEMENT_MAX_SKEW_MS} of `now`.
 */
export function checkNodeStatement(
  statement: NodeStatement,
  signature: string,
  now: number,
): StatementCheck {
  const publicKey = publicKeyFromNodeId(statement.machine_id);
  if (!publicKey) {
    return {
      ok: false,
      reason: `${statement.machine_id} is not a node id: only a node proves itself by its key`,
    };
  }
  if (Math.abs(now - statement.signed_at) > NODE_STATEMENT_MAX_SKEW_MS) {
    return {
      ok: false,
      reason: `the node's statement was signed at ${timeText(statement.signed_at)}, more than ${
        NODE_STATEMENT_MAX_SKEW_MS / 60_000
      } minutes from the ledger's clock`,
    };
  }
  let bytes: Uint8Array;
  try {
    bytes = base64.decode(signature);
  } catch {
    return { ok: false, reason: "the node's signature is not base64" };
  }
  if (!verifyEd25519Sync(publicKey, nodeStatementBytes(statement), bytes)) {
    return { ok: false, reason: `the statement is not signed by node ${statement.machine_id}` };
  }
  return { ok: true };
}

/** A time the sender chose, for a message: ISO 8601 when a Date can hold it, else the number. */
function timeText(ms: number): string {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? `${ms} ms` : date.toISOString();
}
