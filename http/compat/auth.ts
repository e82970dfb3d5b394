/**
 * The original's authorisation, checked by the GPU node (never by the
 * client-end, which it does not trust): a wallet's signature of the bare
 * nonce (sr25519 or ed25519, raw or `<Bytes>`-wrapped), a multisig account
 * whose signatories each sign a nonce of their own, or a session made by
 * `POST /api/v1/mining_nodes/session_id` with the renter's signature of its id.
 * A valid session pair wins; failing that, the wallet fields are tried; empty
 * fields of the unused form are ignored, as the original does.
 *
 * The signatures are checked by `mod/wallet/` (legacy form); each nonce is
 * then claimed in the node service's database (`nonce.claim`), so it is
 * single-use across restarts, for as long as a ledger keeps a legacy nonce.
 * The in-memory replay guard only answers a replay quicker.
 */
import {
  authFieldsFromBody,
  decodeSs58,
  newReplayGuards,
  nonceExpiresAt,
  normalizeAccount,
  parseWalletSignature,
  RpcError,
  SessionIdSchema,
  verifyRequestAuth,
  verifyWalletSignature,
  type WalletAuthConfig,
} from "../../mod/mod.ts";
import type { AppDeps } from "../app_deps.ts";
import type { Requester } from "../auth.ts";
import type { OriginalAuthFields } from "./body.ts";
import { boundNonceRefusal, type BoundRequest } from "./bound_nonce.ts";
import { denied } from "./envelope.ts";

/** Legacy signatures carry no time: the window only sizes the in-memory guard. */
const LEGACY_AUTH: WalletAuthConfig = { timestampWindowMs: 300_000, allowLegacyNonce: true };
/** The original's words for a refused signature, kept as the start of every such message. */
const AUTH_FAILED = "check authority failed";

export type OriginalAuthorityDeps = Pick<AppDeps, "call"> & { now: () => number };

export class OriginalAuthority {
  readonly #deps: OriginalAuthorityDeps;
  readonly #guards = newReplayGuards(LEGACY_AUTH.timestampWindowMs);

  constructor(deps: OriginalAuthorityDeps) {
    this.#deps = deps;
  }

  /**
   * Who acts: the session's renter, or the signing wallet or multisig account. `session: false`
   * for what only the wallet may do (making a session). Throws -3 at HTTP 200, as the original.
   */
  async requester(
    auth: OriginalAuthFields,
    options: { session: boolean; request?: BoundRequest },
  ): Promise<Requester> {
    const hasSession = auth.session_id !== "" && auth.session_id_sign !== "";
    const hasWallet = (auth.wallet !== "" && auth.nonce !== "" && auth.sign !== "") ||
      (auth.multisig !== undefined && auth.multisig.wallets.length > 0);
    let sessionRefusal: string | undefined;
    if (options.session && hasSession) {
      const outcome = await this.#session(auth.session_id, auth.session_id_sign);
      if (outcome.ok) return outcome.requester;
      sessionRefusal = outcome.reason;
    }
    if (!hasWallet) {
      throw denied(
        `${AUTH_FAILED}: ${
          sessionRefusal ? `session_id is invalid (${sessionRefusal})` : "nonce check failed"
        }`,
      );
    }
    return await this.#wallet(auth, options.request);
  }

  async #session(
    sessionId: string,
    sign: string,
  ): Promise<{ ok: true; requester: Requester } | { ok: false; reason: string }> {
    if (!SessionIdSchema.safeParse(sessionId).success) {
      return { ok: false, reason: "not a session id of this network" };
    }
    let session: { account: string; prefix: string };
    try {
      session = await this.#deps.call("session.resolve", { session_id: sessionId });
    } catch (error) {
      if (error instanceof RpcError && error.code === "not_found") {
        return { ok: false, reason: error.message };
      }
      throw error;
    }
    const decoded = decodeSs58(session.account);
    const signature = parseWalletSignature(sign);
    const check = decoded && signature
      ? await verifyWalletSignature(
        decoded.accountId,
        new TextEncoder().encode(sessionId),
        signature,
      )
      : { ok: false };
    if (!check.ok) {
      return {
        ok: false,
        reason: `session_id_sign is not ${session.account}'s signature of the session id` +
          " (a multisig account's session is used with a wallet's signature instead)",
      };
    }
    return {
      ok: true,
      requester: {
        account: session.account,
        actor: `${session.account}/session:${session.prefix}`,
        via: "session",
      },
    };
  }

  async #wallet(auth: OriginalAuthFields, request?: BoundRequest): Promise<Requester> {
    const multisig = auth.wallet === "" ? auth.multisig : undefined;
    // Before anything is claimed: a signature relayed with another request leaves its nonce
    // unspent for the request it was made for.
    const nonces = multisig ? multisig.signs.map((item) => item.nonce) : [auth.nonce];
    const unbound = request && boundNonceRefusal(nonces, request);
    if (unbound) throw denied(`${AUTH_FAILED}: nonce check failed (${unbound})`);
    const threshold = multisig ? Number(multisig.threshold.trim()) : undefined;
    if (multisig && !Number.isInteger(threshold)) {
      throw denied(`${AUTH_FAILED}: multisig threshold ${JSON.stringify(multisig.threshold)}`);
    }
    // The fields as mod/wallet/ reads a body; no timestamp, so the bare nonce is what is signed.
    const fields = authFieldsFromBody(
      multisig
        ? { multisig_accounts: { wallets: multisig.wallets, threshold, signs: multisig.signs } }
        : { wallet: auth.wallet, nonce: auth.nonce, sign: auth.sign },
    );
    const now = this.#deps.now();
    const outcome = await verifyRequestAuth({
      request: { method: "POST", pathAndQuery: "", body: undefined },
      fields,
      now,
      guards: this.#guards,
      config: LEGACY_AUTH,
    });
    if (!outcome.ok) {
      throw denied(`${AUTH_FAILED}: nonce check failed (${outcome.reason}: ${outcome.message})`);
    }
    const claims = multisig
      ? multisig.signs
        .map((item) => ({
          account: normalizeAccount(item.wallet) ?? item.wallet,
          nonce: item.nonce,
        }))
        .filter((claim) => outcome.signers.includes(claim.account))
      : [{ account: outcome.account, nonce: auth.nonce }];
    try {
      await this.#deps.call("nonce.claim", {
        claims,
        expires_at: nonceExpiresAt(outcome, LEGACY_AUTH, now),
      });
    } catch (error) {
      if (error instanceof RpcError && error.code === "conflict") {
        throw denied(`${AUTH_FAILED}: nonce check failed (replayed: ${error.message})`);
      }
      throw error;
    }
    return { account: outcome.account, actor: outcome.account, via: "wallet" };
  }
}
