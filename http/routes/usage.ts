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
import { NodeQuery } from "./common.ts";
import type { InstanceRouteDeps } from "./instances.ts";
import { ownedRoutes, signersContainer, signersVm } from "./owned.ts";

const DESCRIPTION = "Counters since the instance started (CPU time in ns, bytes), null where the " +
  "hypervisor or engine reports none; read twice for rates. Wallet-signed by the instance's " +
  "renter, or its delegated session; 409 while it does not run.";

export function usageRoutes(
  routes: ApiRoutes,
  deps: Pick<InstanceRouteDeps, "call">,
  auth: WalletAuthenticator,
): void {
  ownedRoutes(routes, auth, "task_id", signersVm(deps))({
    method: "get",
    path: "/api/v1/tasks/:task_id/usage",
    summary: "A running VM's CPU, memory, network and disk counters now",
    description: DESCRIPTION,
    tags: ["vms"],
    params: z.object({ task_id: InstanceIdSchema }),
    query: NodeQuery,
    response: InstanceUsageSchema,
  }, async ({ id }) => await deps.call("vm.usage", { id }));

  ownedRoutes(routes, auth, "container_id", signersContainer(deps))({
    method: "get",
    path: "/api/v1/containers/:container_id/usage",
    summary: "A running container's CPU, memory, network and disk counters now",
    description: DESCRIPTION,
    tags: ["containers"],
    params: z.object({ container_id: InstanceIdSchema }),
    query: NodeQuery,
    response: InstanceUsageSchema,
  }, async ({ id }) => await deps.call("container.usage", { id }));
}
