/**
 * An instance's resource usage now (`GET /api/v1/tasks/:task_id/usage`,
 * `GET /api/v1/containers/:container_id/usage`): CPU time, memory, network
 * and disk counters, read by the GPU node from libvirt or the container
 * engine. Counters since the instance started, so a client that reads twice
 * has rates: the dashboard reads every few seconds and draws them. Only the
 * instance's renter may read (404 for anyone else), only while it runs (409).
 */
import { z } from "zod";
import { InstanceIdSchema, InstanceUsageSchema } from "../../mod/mod.ts";
import type { ApiRoutes } from "../api_route.ts";
import type { WalletAuthenticator } from "../auth.ts";
import { NodeQuery, SIGNED_ROUTE_ERRORS } from "./common.ts";
import { found, type InstanceRouteDeps, ownedBy } from "./instances.ts";

const DESCRIPTION = "Counters since the instance started (CPU time in ns, bytes), null where the " +
  "hypervisor or engine reports none; read twice for rates. Wallet-signed by the instance's " +
  "renter, or its delegated session; 409 while it does not run.";

export function usageRoutes(
  routes: ApiRoutes,
  deps: Pick<InstanceRouteDeps, "call">,
  auth: WalletAuthenticator,
): void {
  routes.add({
    method: "get",
    path: "/api/v1/tasks/:task_id/usage",
    summary: "A running VM's CPU, memory, network and disk counters now",
    auth: "renter",
    description: DESCRIPTION,
    tags: ["vms"],
    params: z.object({ task_id: InstanceIdSchema }),
    query: NodeQuery,
    response: InstanceUsageSchema,
    errors: SIGNED_ROUTE_ERRORS,
  }, async ({ params, context }) => {
    const who = await auth.authoriseRenter(context, "");
    const vm = ownedBy(
      await found("VM", params.task_id, deps.call("vm.get", { id: params.task_id })),
      who.account,
      "VM",
    );
    return await deps.call("vm.usage", { id: vm.id });
  });

  routes.add({
    method: "get",
    path: "/api/v1/containers/:container_id/usage",
    summary: "A running container's CPU, memory, network and disk counters now",
    auth: "renter",
    description: DESCRIPTION,
    tags: ["containers"],
    params: z.object({ container_id: InstanceIdSchema }),
    query: NodeQuery,
    response: InstanceUsageSchema,
    errors: SIGNED_ROUTE_ERRORS,
  }, async ({ params, context }) => {
    const who = await auth.authoriseRenter(context, "");
    const container = ownedBy(
      await found(
        "container",
        params.container_id,
        deps.call("container.get", { id: params.container_id }),
      ),
      who.account,
      "container",
    );
    return await deps.call("container.usage", { id: container.id });
  });
}
