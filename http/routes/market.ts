/**
 * The GPU nodes of the network, as this node has heard them announce
 * themselves (`service.summary` broadcasts, signed by each node's key):
 * `GET /api/v1/mining_nodes` lists them with their machine (GPU model, count
 * and memory, CPU, memory, disk, ledger state, price), and
 * `GET /api/v1/mining_nodes/:node_id` gives one, the paths the original
 * client-end used. A node's id is also its machine id for renting, and
 * `GET /api/v1/mining_nodes/:node_id/lease?account=` says whether an account
 * rents it now (rentals are public in the ledger, as on the original chain).
 */
import {
  AccountSchema,
  LeaseCheckResultSchema,
  MarketNodeListSchema,
  MarketNodeSchema,
  NodeIdTextSchema,
} from "../../mod/mod.ts";
import { z } from "zod";
import type { ApiRoutes } from "../api_route.ts";
import type { AppDeps } from "../app_deps.ts";

const ANNOUNCED =
  "GPU nodes announce their machine when it changes and every announce_interval_s (600 s by default); a node silent for " +
  "three of its intervals, or reported gone by the network, is no longer listed.";

export function marketRoutes(routes: ApiRoutes, deps: AppDeps): void {
  routes.add({
    method: "get",
    path: "/api/v1/mining_nodes",
    summary: "GPU nodes with their machine configuration, state and price",
    description: ANNOUNCED,
    tags: ["market"],
    response: MarketNodeListSchema,
    errors: ["try_later", "timeout"],
  }, () => deps.call("market.nodes", {}));

  routes.add({
    method: "get",
    path: "/api/v1/mining_nodes/:node_id",
    summary: "One GPU node's machine configuration, state and price",
    description: ANNOUNCED,
    tags: ["market"],
    params: z.object({ node_id: NodeIdTextSchema }),
    response: MarketNodeSchema,
    errors: ["not_found", "try_later", "timeout"],
  }, ({ params }) => deps.call("market.node", { node_id: params.node_id }));

  routes.add(
    {
      method: "get",
      path: "/api/v1/mining_nodes/:node_id/lease",
      summary: "Whether an account (a wallet or a multisig account) rents this GPU node now",
      description: "Asked of the verification service this node uses: the embedded ledger on a " +
        "seed, a seed's ledger through the network elsewhere, or the chain when configured.",
      tags: ["market"],
      params: z.object({ node_id: NodeIdTextSchema }),
      query: z.object({ account: AccountSchema }),
      response: LeaseCheckResultSchema,
      errors: ["try_later", "timeout"],
    },
    ({ params, query }) =>
      deps.call("lease.check", { account: query.account, machine_id: params.node_id }),
  );
}
