/**
 * Request routing: Kademlia peer routing by node id and direct request links
 * (see request_router.ts). PeerNode builds a {@link RequestRouter}; the
 * simulation and the tests reach the pieces through this face.
 */
export * from "./constants.ts";
export { commonPrefixBits, compareDistance, type RoutingKey, routingKey } from "./key.ts";
export { Lookup, type LookupOptions } from "./lookup.ts";
export { isRoutingMessage, RequestRouter, type RequestRouterDeps } from "./request_router.ts";
export { RequestFailed, type RequestFailure, type RouteResult } from "./request_result.ts";
export { type Contact, RoutingTable } from "./table.ts";
