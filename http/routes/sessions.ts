/**
 * Delegated sessions on a rented machine (`/api/v1/sessions`, forwarded to
 * the GPU node like the VM paths). The renter, signing with its wallet, makes
 * a session and hands its id to whoever should operate its instances there
 * without the wallet key (`X-DBC-Session: <id>`); lists its sessions; revokes
 * one. A session cannot make sessions, rent, or add images: those need the
 * wallet.
 *
 * The original network also asked for `session_id_sign`, the renter's
 * signature of the id. Here the id itself is an unguessable capability the
 * node made and keeps (hashed), so that signature would add nothing; it is
 * accepted and not needed.
 */
import { z } from "zod";
import {
  DEFAULT_SESSION_TTL_S,
  MAX_SESSION_TTL_S,
  SessionCreatedSchema,
  SessionLabelSchema,
  SessionListSchema,
  SessionPrefixSchema,
  SessionSchema,
} from "../../mod/mod.ts";
import type { ApiRoutes } from "../api_route.ts";
import type { WalletAuthenticator } from "../auth.ts";
import type { InstanceRouteDeps } from "./instances.ts";
import { requireRental } from "./renter.ts";
import { NodeQuery, SIGNED_ROUTE_ERRORS, TargetFields as Target } from "./common.ts";

const SIGNED = "Wallet-signed (see the ledger API); a session cannot stand in for the wallet here.";
const ERRORS = SIGNED_ROUTE_ERRORS;

export function sessionRoutes(
  routes: ApiRoutes,
  deps: InstanceRouteDeps,
  auth: WalletAuthenticator,
): void {
  routes.add({
    method: "post",
    path: "/api/v1/sessions",
    summary: "Make a session that operates the signer's instances on this machine; its id is " +
      "shown once",
    auth: "wallet",
    description: `${SIGNED} Only the machine's current renter. The holder sends ` +
      "`X-DBC-Session: <session_id>` instead of signing; it may operate the renter's VMs and " +
      "containers on this machine until the session expires or is revoked.",
    tags: ["sessions"],
    body: z.object({
      ...Target,
      /** Seconds the session lasts. */
      ttl_s: z.number().int().min(60).max(MAX_SESSION_TTL_S).default(DEFAULT_SESSION_TTL_S),
      label: SessionLabelSchema.optional(),
    }),
    response: SessionCreatedSchema,
    successStatus: 201,
    errors: ERRORS,
  }, async ({ body, rawBody, context }) => {
    const who = await auth.authorise(context, rawBody);
    await requireRental(deps, who.account);
    return await deps.call("session.create", {
      account: who.account,
      ttl_s: body.ttl_s,
      label: body.label,
    });
  });

  routes.add({
    method: "get",
    path: "/api/v1/sessions",
    summary: "The signer's sessions on this machine (named by the start of their id)",
    auth: "wallet",
    description: SIGNED,
    tags: ["sessions"],
    query: NodeQuery,
    response: SessionListSchema,
    errors: ERRORS,
  }, async ({ context }) => {
    const who = await auth.authorise(context, "");
    return await deps.call("session.list", { account: who.account });
  });

  routes.add({
    method: "post",
    path: "/api/v1/sessions/:prefix/revoke",
    summary: "Revoke one of the signer's sessions: its holder is refused from now on",
    auth: "wallet",
    description: SIGNED,
    tags: ["sessions"],
    params: z.object({ prefix: SessionPrefixSchema }),
    body: z.object(Target),
    response: SessionSchema,
    errors: ERRORS,
  }, async ({ params, rawBody, context }) => {
    const who = await auth.authorise(context, rawBody);
    return await deps.call("session.revoke", { account: who.account, prefix: params.prefix });
  });
}
