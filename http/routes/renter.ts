/**
 * Routes for a renter that name no instance of theirs: signed by a wallet or
 * its delegated session, and for some the machine's current renter only. The
 * handler gets who asked.
 */
import type { LeaseStatus } from "../../mod/mod.ts";
import type { ApiRoutes } from "../api_route.ts";
import type { AppDeps } from "../app_deps.ts";
import type { Requester, WalletAuthenticator } from "../auth.ts";
import { ApiError } from "../errors.ts";
import { SIGNED_ROUTE_ERRORS } from "./common.ts";
import { type GuardedRouteAdder, guardedRoutes } from "./guarded.ts";

/**
 * Only the current renter of this machine (or its multisig account) may create on it, as the
 * verification service says. Without a node identity (tools, unit tests) there is no machine to
 * check against.
 */
export async function requireRental(
  deps: Pick<AppDeps, "call" | "node">,
  account: string,
): Promise<LeaseStatus | undefined> {
  if (!deps.node) return undefined;
  const check = await deps.call("lease.check", { account, machine_id: deps.node.nodeId });
  if (!check.renting) {
    throw new ApiError(
      "forbidden",
      `${account} does not rent machine ${deps.node.nodeId} now (${check.verification}: ${check.lease.state})`,
    );
  }
  return check.lease;
}

/** The machine's current renter, and its lease (none without a node identity). */
export type Renter = Requester & { lease: LeaseStatus | undefined };

/** Routes any signer may call (`description` says how to sign). */
export function signedRoutes(
  routes: ApiRoutes,
  auth: WalletAuthenticator,
  description: string,
): GuardedRouteAdder<Requester> {
  return guardedRoutes(
    routes,
    { auth: "renter", description, errors: SIGNED_ROUTE_ERRORS },
    // A route without a body has "" here, which is what a GET is signed over.
    ({ context, rawBody }) => auth.authoriseRenter(context, rawBody),
  );
}

/** Routes only the machine's current renter may call (see {@link requireRental}). */
export function rentalRoutes(
  routes: ApiRoutes,
  deps: Pick<AppDeps, "call" | "node">,
  auth: WalletAuthenticator,
  description: string,
): GuardedRouteAdder<Renter> {
  return guardedRoutes(
    routes,
    { auth: "renter", description, errors: SIGNED_ROUTE_ERRORS },
    async ({ context, rawBody }) => {
      const who = await auth.authoriseRenter(context, rawBody);
      return { ...who, lease: await requireRental(deps, who.account) };
    },
  );
}
