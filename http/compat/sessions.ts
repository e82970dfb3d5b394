/**
 * `POST /api/v1/mining_nodes/session_id`: the renter's session id, which
 * then stands in for its wallet signature (`session_id` and
 * `session_id_sign`, its signature of the id). It is a native delegated
 * session of the GPU node (`session.create`; README "Delegated sessions"):
 * only the machine's current renter, signing with its wallet (not with a
 * session), gets one.
 *
 * The original kept one id per wallet and gave it out again; a native
 * session's id is shown once (the node keeps only its hash), so each call
 * makes a new one, and the oldest of a renter's sessions made this way are
 * revoked beyond {@link MAX_ORIGINAL_SESSIONS}, so a client that asks before
 * every request does not use up the renter's sessions.
 */
import { MAX_SESSION_TTL_S } from "../../mod/mod.ts";
import { requireRenting } from "./access.ts";
import { bodyOf, boundRequestOf, type Endpoint } from "./endpoint.ts";

/** The label of sessions made through the original dialect. */
export const ORIGINAL_SESSION_LABEL = "original client";
/** Live sessions made this way that a renter keeps at once (the native cap is 16 in all). */
export const MAX_ORIGINAL_SESSIONS = 4;

export const sessionIdEndpoint: Endpoint = {
  name: "query session_id",
  at: "node",
  signed: true,
  async run(input) {
    const who = await input.authority.requester(bodyOf(input).auth, {
      session: false,
      request: boundRequestOf(input),
    });
    await requireRenting(input, who.account);
    const now = input.deps.now();
    const { sessions } = await input.deps.call("session.list", { account: who.account });
    const live = sessions
      .filter((session) =>
        session.label === ORIGINAL_SESSION_LABEL && session.revoked_at === null &&
        session.expires_at > now
      )
      .sort((left, right) => left.created_at - right.created_at);
    for (const old of live.slice(0, Math.max(0, live.length - MAX_ORIGINAL_SESSIONS + 1))) {
      await input.deps.call("session.revoke", { account: who.account, prefix: old.prefix });
    }
    const made = await input.deps.call("session.create", {
      account: who.account,
      ttl_s: MAX_SESSION_TTL_S,
      label: ORIGINAL_SESSION_LABEL,
    });
    return { session_id: made.session_id };
  },
};
