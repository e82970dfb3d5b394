/**
 * The renter's monitoring servers on a GPU node (`/api/v1/monitor`,
 * forwarded to the GPU node like the VM paths): up to two `host:port`
 * servers, to which the node sends the metrics of the renter's VMs and of the
 * machine every `monitor_interval_s`, in the original's Zabbix format
 * (node_service/monitor/). Only the machine's current renter, signing with
 * its wallet or its delegated session; the node refuses an address that is
 * not `host:port`, or is loopback, private or link-local unless its operator
 * allows those, and then keeps the old list.
 */
import { z } from "zod";
import { MAX_MONITOR_SERVERS, MonitorAddressSchema, MonitorServersSchema } from "../../mod/mod.ts";
import type { ApiRoutes } from "../api_route.ts";
import type { WalletAuthenticator } from "../auth.ts";
import { NodeQuery, SIGNED_ROUTE_ERRORS, TargetFields } from "./common.ts";
import type { InstanceRouteDeps } from "./instances.ts";
import { rentalRoutes } from "./renter.ts";

const SIGNED = "Wallet-signed by the machine's current renter, or its delegated session.";

export function monitorRoutes(
  routes: ApiRoutes,
  deps: Pick<InstanceRouteDeps, "call" | "node">,
  auth: WalletAuthenticator,
): void {
  const addRentalRoute = rentalRoutes(routes, deps, auth, SIGNED);

  addRentalRoute({
    method: "get",
    path: "/api/v1/monitor",
    summary: "The monitoring servers the signer named on this machine",
    tags: ["monitor"],
    query: NodeQuery,
    response: MonitorServersSchema,
  }, async (who) => {
    return await deps.call("monitor.list", { account: who.account });
  });

  addRentalRoute({
    method: "post",
    path: "/api/v1/monitor/set",
    summary: "Name the servers this machine sends the signer's VM and machine metrics to",
    description: `${SIGNED} Replaces the list (empty: no more pushes). Each server is ` +
      "`host:port` and receives, every `monitor_interval_s` (30 s), Zabbix sender requests " +
      "(`ZBXD`, JSON `agent data`) for each of the renter's VMs (host: its task id) and for the " +
      "machine (host: its machine id), as the original network's nodes send them.",
    tags: ["monitor"],
    body: z.object({
      ...TargetFields,
      servers: z.array(MonitorAddressSchema).max(MAX_MONITOR_SERVERS),
    }),
    response: MonitorServersSchema,
    errors: ["invalid_params", ...SIGNED_ROUTE_ERRORS],
  }, async (who, { body }) => {
    return await deps.call("monitor.set", {
      actor: who.actor,
      account: who.account,
      servers: body.servers,
    });
  });
}
