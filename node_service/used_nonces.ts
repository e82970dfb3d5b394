/**
 * Nonces already used, kept on disk so a signed request cannot be played
 * again, not even after a restart: one `used_nonces` table (account, nonce,
 * expires_at), the same in the ledger's database and in the node service's.
 * The ledger records the signer of every write here; a GPU node records the
 * bare-nonce signatures of the original dialect (`nonce.claim`), which carry
 * no time of their own and so are kept for a long, fixed while.
 *
 * @example
 * ```ts
 * transaction(db, () => claimNonce(db, { account, nonce, expiresAt, now })); // false: used before
 * ```
 */
import { type DatabaseSync, type Handlers, RpcError, transaction } from "../mod/mod.ts";

export type NonceClaim = { account: string; nonce: string; expiresAt: number; now: number };

/**
 * Records (account, nonce) until `expiresAt`; false when it is already recorded. Forgets the
 * expired first. Runs in the caller's transaction, so the claim lands with the caller's write.
 */
export function claimNonce(db: DatabaseSync, claim: NonceClaim): boolean {
  db.prepare("DELETE FROM used_nonces WHERE expires_at <= ?").run(claim.now);
  const claimed = db.prepare(
    "INSERT OR IGNORE INTO used_nonces (account, nonce, expires_at) VALUES (?, ?, ?)",
  ).run(claim.account, claim.nonce, claim.expiresAt);
  return Number(claimed.changes) === 1;
}

/** `nonce.claim`: every (account, nonce) of one request, all or none; `conflict` on a replay. */
export function usedNonceHandlers(
  db: DatabaseSync,
  now: () => number,
): Pick<Handlers<"node_service">, "nonce.claim"> {
  return {
    "nonce.claim": (params) =>
      transaction(db, () => {
        const at = now();
        for (const { account, nonce } of params.claims) {
          if (!claimNonce(db, { account, nonce, expiresAt: params.expires_at, now: at })) {
            // Thrown inside the transaction: the claims made before it are rolled back.
            throw new RpcError("conflict", `nonce ${nonce} of ${account} was already used`);
          }
        }
        return { claimed: params.claims.length };
      }),
  };
}
