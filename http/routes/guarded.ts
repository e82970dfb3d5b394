/**
 * Routes that share a check made before their handler runs: who may call
 * them (the renter, the operator), and what the check established (who
 * asked, the instance the path names) handed to the handler. Declaring the
 * check once per kind of route keeps a route from forgetting it.
 */
import type { z } from "zod";
import type { ApiRoutes, RouteAuth, RouteInput, RouteSpec } from "../api_route.ts";
import type { ApiErrorKind } from "../errors.ts";

/** A route's spec less what its kind declares; `description` and `errors` may override. */
export type GuardedSpec<
  P extends z.ZodType,
  Q extends z.ZodType,
  B extends z.ZodType,
  R extends z.ZodType,
> = Omit<RouteSpec<P, Q, B, R>, "auth">;

/** What every route of a kind declares. */
export type RouteKind = {
  auth: RouteAuth;
  description?: string;
  errors?: readonly ApiErrorKind[];
};

/** Any route's input, as a guard sees it. */
export type GuardInput = RouteInput<z.ZodType, z.ZodType, z.ZodType>;

/** Adds routes of one kind: `guard` runs first and throws for a caller it refuses. */
export type GuardedRouteAdder<G> = <
  P extends z.ZodType = z.ZodType,
  R extends z.ZodType = z.ZodType,
  Q extends z.ZodType = z.ZodType,
  B extends z.ZodType = z.ZodType,
>(
  spec: GuardedSpec<P, Q, B, R>,
  handle: (guarded: G, input: RouteInput<P, Q, B>) => Promise<z.input<R>> | z.input<R>,
) => void;

/**
 * Declares routes of one kind on `routes`.
 *
 * @example
 * ```ts
 * const addOperatorRoute = guardedRoutes(routes, { auth: "operator" }, ({ context }) =>
 *   requireOperator(context, access));
 * addOperatorRoute({ method: "get", path: "/api/v1/operator/peers", ... },
 *   () => deps.call("network.peers.active", {}));
 * ```
 */
export function guardedRoutes<G>(
  routes: ApiRoutes,
  kind: RouteKind,
  guard: (input: GuardInput) => Promise<G> | G,
): GuardedRouteAdder<G> {
  return (spec, handle) => {
    routes.add({ ...kind, ...spec, auth: kind.auth }, async (input) => {
      return await handle(await guard(input as GuardInput), input);
    });
  };
}
