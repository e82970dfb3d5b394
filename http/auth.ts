/**
 * Wallet authorisation of API writes: checks the request's signature(s) with
 * `mod/wallet/auth.ts` (fields in `X-DBC-*` headers or in the JSON body; the
 * signed message binds method, path and query, body, time and nonce) and
 * answers 401 `unauthorized` with the reason when they do not hold. One
 * {@link WalletAuthenticator} per app: its replay guards remember the nonces
 * already used.
 *
 * Instance routes also take a delegated session (`X-DBC-Session: <id>`, or the
 * original's `session_id` body field) in place of a signature, through
 * {@link WalletAuthenticator.authoriseRenter}; everything else (renting,
 * making sessions, images) needs the wallet itself.
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
  RpcError,
  type SignedBy,
  verifyRequestAuth,
  type WalletAuthConfig,
} from "../mod/mod.ts";
import { ApiError } from "./errors.ts";

/** The header that carries a delegated session's id. */
export const SESSION_HEADER = "x-dbc-session";

/** Resolves a session id to the account it acts for; throws when it is not live. */
export type SessionResolver = (sessionId: string) => Promise<{ account: string; prefix: string }>;

/** Who operates an instance: the renter's account, and how it was shown. */
export type Requester = {
  account: string;
  /** What the event log records as the actor: the account, or the session acting for it. */
  actor: string;
  via: "wallet" | "session";
};

/** Used when the app is created without the node's configuration (tests, tools). */
export const DEFAULT_WALLET_AUTH: WalletAuthConfig = {
  timestampWindowMs: 300_000,
  allowLegacyNonce: false,
};

export class WalletAuthenticator {
  readonly config: WalletAuthConfig;
  readonly #guards: ReplayGuards;
  readonly #now: () => number;

  readonly #resolveSession: SessionResolver | undefined;

  constructor(
    config: WalletAuthConfig = DEFAULT_WALLET_AUTH,
    now: () => number = Date.now,
    resolveSession?: SessionResolver,
  ) {
    this.config = config;
    this.#guards = newReplayGuards(config.timestampWindowMs);
    this.#now = now;
    this.#resolveSession = resolveSession;
  }

  /**
   * The renter behind a request for its instances: a wallet signature as in
   * {@link authorise}, or a live session of this machine. Throws `unauthorized` (401).
   */
  async authoriseRenter(c: Context, rawBody: string): Promise<Requester> {
    const sessionId = c.req.header(SESSION_HEADER) ?? sessionIdInBody(rawBody);
    if (sessionId === undefined) {
      const who = await this.authorise(c, rawBody);
      return { account: who.account, actor: who.account, via: "wallet" };
    }
    if (authFieldsFromHeaders(c.req.raw.headers)) {
      throw new ApiError("unauthorized", "send a wallet signature or a session, not both");
    }
    if (!/^ses_[1-9A-HJ-NP-Za-km-z]{32}$/.test(sessionId)) {
      throw new ApiError("unauthorized", "session: not a session id");
    }
    if (!this.#resolveSession) {
      throw new ApiError("unauthorized", "session: this node takes no sessions");
    }
    let session: { account: string; prefix: string };
    try {
      session = await this.#resolveSession(sessionId);
    } catch (error) {
      if (error instanceof RpcError && error.code === "not_found") {
        throw new ApiError("unauthorized", `session: ${error.message}`);
      }
      throw error;
    }
    return {
      account: session.account,
      actor: `${session.account}/session:${session.prefix}`,
      via: "session",
    };
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
    if (!outcome.ok) {
      // A full replay memory is no fault of the signer's: it may try again later (503).
      const kind = outcome.reason === "busy" ? "try_later" : "unauthorized";
      throw new ApiError(kind, `${outcome.reason}: ${outcome.message}`);
    }
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

/** The original's `session_id` body field, when the body is a JSON object that has one. */
function sessionIdInBody(rawBody: string): string | undefined {
  if (rawBody === "" || !rawBody.includes("session_id")) return undefined;
  try {
    const value = (JSON.parse(rawBody) as { session_id?: unknown })?.session_id;
    return typeof value === "string" ? value : undefined;
  } catch {
    return undefined; // authorise() reports the broken body.
  }
}
