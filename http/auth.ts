/**
 * Wallet authorisation of API writes: checks the request's signature(s) with
 * `mod/wallet_auth.ts` (fields in `X-DBC-*` headers or in the JSON body; the
 * signed message binds method, path and query, body, time and nonce) and
 * answers 401 `unauthorized` with the reason when they do not hold. One
 * {@link WalletAuthenticator} per app: its replay guards remember the nonces
 * already used.
 *
 * @example
 * ```ts
 * const auth = new WalletAuthenticator({ timestampWindowMs: 300_000, allowLegacyNonce: false });
 * const who = await auth.authorise(c, rawBody); // throws ApiError("unauthorized", ...)
 * await deps.call("ledger.rent", { signed_by: auth.signedBy(who), ... });
 * ```
 */
import type { Context } from "hono";
import {
  authFieldsFromBody,
  authFieldsFromHeaders,
  type AuthorisedAccount,
  newReplayGuards,
  nonceExpiresAt,
  type ReplayGuards,
  type SignedBy,
  verifyRequestAuth,
  type WalletAuthConfig,
} from "../mod/mod.ts";
import { ApiError } from "./errors.ts";

/** Used when the app is created without the node's configuration (tests, tools). */
export const DEFAULT_WALLET_AUTH: WalletAuthConfig = {
  timestampWindowMs: 300_000,
  allowLegacyNonce: false,
};

export class WalletAuthenticator {
  readonly config: WalletAuthConfig;
  readonly #guards: ReplayGuards;
  readonly #now: () => number;

  constructor(config: WalletAuthConfig = DEFAULT_WALLET_AUTH, now: () => number = Date.now) {
    this.config = config;
    this.#guards = newReplayGuards(config.timestampWindowMs);
    this.#now = now;
  }

  /** The acting account of a signed request; throws `unauthorized` (401) when the signatures do not hold. */
  async authorise(c: Context, rawBody: string): Promise<AuthorisedAccount> {
    let body: unknown;
    if (rawBody !== "") {
      try {
        body = JSON.parse(rawBody);
      } catch {
        throw new ApiError("invalid_request", "request body is not valid JSON");
      }
    }
    const fromHeaders = authFieldsFromHeaders(c.req.raw.headers);
    const fromBody = authFieldsFromBody(body);
    if (fromHeaders && fromBody) {
      throw new ApiError("unauthorized", "wallet fields in both headers and body: send them once");
    }
    const url = new URL(c.req.url);
    const outcome = await verifyRequestAuth({
      request: { method: c.req.method, pathAndQuery: url.pathname + url.search, body },
      fields: fromHeaders ?? fromBody,
      now: this.#now(),
      guards: this.#guards,
      config: this.config,
    });
    if (!outcome.ok) throw new ApiError("unauthorized", `${outcome.reason}: ${outcome.message}`);
    return outcome;
  }

  /** What the ledger records of the signer, so a replay is refused there too, even after a restart. */
  signedBy(who: AuthorisedAccount): SignedBy {
    return {
      account: who.account,
      nonce: who.nonce,
      nonce_expires_at: nonceExpiresAt(who, this.config, this.#now()),
    };
  }
}
