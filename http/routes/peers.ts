/**
 * The peer-to-peer network as a client-end sees it: connected neighbours
 * (`/api/v1/peers/active`), the address book of candidates with their state
 * (`/api/v1/peers/global`), the network worker's counters, and a ping to any
 * node by id, which travels sealed through the network when the node is not a
 * neighbour.
 */
import { z } from "zod";
import {
  ActivePeerListSchema,
  GlobalPeerListSchema,
  NetworkStatusSchema,
  NodeIdTextSchema,
} from "../../mod/mod.ts";
import type { ApiRoutes } from "../api_route.ts";
import type { AppDeps } from "../app_deps.ts";
import { ApiError } from "../errors.ts";

/** How long a ping waits for the node's answer. */
const PING_TIMEOUT_MS = 10_000;

export const PeerPingSchema = z.object({
  node_id: z.string(),
  node_type: z.enum(["gpu", "seed", "client"]),
  version: z.string(),
  rtt_ms: z.number(),
  /** Links the reply travelled; 1 when the node is a neighbour. */
  hops: z.number().int(),
  route: z.enum(["local", "direct", "relayed"]),
});

export function peerRoutes(routes: ApiRoutes, deps: AppDeps): void {
  routes.add({
    method: "get",
    path: "/api/v1/peers/active",
    summary: "Connected neighbours: id, ip, port, node type, state",
    tags: ["peers"],
    response: ActivePeerListSchema,
    errors: ["try_later", "timeout"],
  }, () => deps.call("network.peers.active", {}));

  routes.add({
    method: "get",
    path: "/api/v1/peers/global",
    summary:
      "The address book: every known node with its state (in_use, available, new, unreachable)",
    tags: ["peers"],
    response: GlobalPeerListSchema,
    errors: ["try_later", "timeout"],
  }, () => deps.call("network.peers.global", {}));

  routes.add({
    method: "get",
    path: "/api/v1/peers/status",
    summary: "The network worker: links, address book size, nonce cache and message counters",
    tags: ["peers"],
    response: NetworkStatusSchema,
    errors: ["try_later", "timeout"],
  }, () => deps.call("network.status", {}));

  routes.add({
    method: "get",
    path: "/api/v1/peers/:node_id/ping",
    summary: "Ping any node by id, on its neighbour link or a request link (encrypted end to end)",
    tags: ["peers"],
    params: z.object({ node_id: NodeIdTextSchema }),
    response: PeerPingSchema,
    errors: ["not_found", "timeout", "try_later"],
  }, async ({ params }) => {
    const result = await deps.call("network.send", {
      to: params.node_id,
      payload: { type: "node.ping" },
      timeout_ms: PING_TIMEOUT_MS,
    }, { timeoutMs: PING_TIMEOUT_MS + 2_000 });
    const pong = result.reply.type === "node.pong" ? result.reply : undefined;
    // The reply is the pinged node's to choose: anything but a pong is its fault, not ours (502).
    if (!pong) {
      throw new ApiError(
        "bad_response",
        `node ${params.node_id} answered a ping with ${result.reply.type}`,
      );
    }
    return {
      node_id: pong.node_id,
      node_type: pong.role,
      version: pong.version,
      rtt_ms: result.rtt_ms,
      hops: result.hops,
      route: result.route,
    };
  });
}
