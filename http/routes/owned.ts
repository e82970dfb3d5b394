/**
 * Routes on one of the signer's instances (a VM, a container): the request is
 * authorised as the renter's (a wallet signature or a delegated session), and
 * the instance its path names is looked up and must be the signer's; another
 * renter's instance, like a missing one, answers 404 as if it did not exist.
 */
import type { z } from "zod";
import { RpcError } from "../../mod/mod.ts";
import type { ApiRoutes, RouteInput } from "../api_route.ts";
import type { AppDeps } from "../app_deps.ts";
import type { Requester, WalletAuthenticator } from "../auth.ts";
import { ApiError } from "../errors.ts";
import { SIGNED_ROUTE_ERRORS } from "./common.ts";
import { guardedRoutes, type GuardedSpec } from "./guarded.ts";

/** Gives an instance to the renter who asked only; anyone else is told it does not exist. */
export function ownedBy<T extends { owner: string; id: string }>(
  instance: T,
  account: string,
  noun: string,
): T {
  if (instance.owner !== account) {
    throw new ApiError("not_found", `no ${noun} ${instance.id} of yours on this node`);
  }
  return instance;
}

/** A missing instance is a 404, whoever asks. */
export async function found<T>(noun: string, id: string, lookup: Promise<T>): Promise<T> {
  try {
    return await lookup;
  } catch (error) {
    if (error instanceof RpcError && error.code === "not_found") {
      throw new ApiError("not_found", `no ${noun} ${id} of yours on this node`);
    }
    throw error;
  }
}

/** Looks one of the signer's VMs up by id. */
export const signersVm = (deps: Pick<AppDeps, "call">) => async (id: string, account: string) =>
  ownedBy(await found("VM", id, deps.call("vm.get", { id })), account, "VM");

/** Looks one of the signer's containers up by id. */
export const signersContainer =
  (deps: Pick<AppDeps, "call">) => async (id: string, account: string) =>
    ownedBy(
      await found("container", id, deps.call("container.get", { id })),
      account,
      "container",
    );

/** Who asked, and the id of the instance of theirs the path names. */
export type OwnedTarget = Requester & { id: string };

/** Adds routes on the signer's instances whose path names the instance as `K`. */
export type OwnedRouteAdder<K extends string> = <
  P extends z.ZodType<{ [key in K]: string }>,
  R extends z.ZodType,
  Q extends z.ZodType = z.ZodType,
  B extends z.ZodType = z.ZodType,
>(
  spec: GuardedSpec<P, Q, B, R> & { params: P },
  handle: (target: OwnedTarget, input: RouteInput<P, Q, B>) => Promise<z.input<R>>,
) => void;

/**
 * Declares routes on the signer's instances whose id is the path parameter `idParam`, found by
 * `lookup` (which throws 404 for a missing one or another renter's).
 *
 * @example
 * ```ts
 * const addVmRoute = ownedRoutes(routes, auth, "task_id", signersVm(deps));
 * addVmRoute({ method: "get", path: "/api/v1/tasks/:task_id/disks", ... },
 *   ({ id }) => deps.call("vm.disk_list", { id }));
 * ```
 */
export function ownedRoutes<K extends string>(
  routes: ApiRoutes,
  auth: WalletAuthenticator,
  idParam: K,
  lookup: (id: string, account: string) => Promise<{ id: string }>,
): OwnedRouteAdder<K> {
  return guardedRoutes(
    routes,
    { auth: "renter", errors: SIGNED_ROUTE_ERRORS },
    async ({ params, context, rawBody }): Promise<OwnedTarget> => {
      // A route without a body has "" here, which is what a GET is signed over.
      const who = await auth.authoriseRenter(context, rawBody);
      const { id } = await lookup((params as Record<K, string>)[idParam], who.account);
      return { ...who, id };
    },
  );
}
