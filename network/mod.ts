/**
 * The network layer's public face: the worker's URL for main.ts, and the
 * transport-free protocol pieces that tests and the simulation run directly.
 */
export const NETWORK_WORKER_URL = new URL("./worker.ts", import.meta.url);
export { NETWORK_MIGRATIONS } from "./migrations.ts";
export { AddressBook, type BookEntry } from "./address_book.ts";
export { type Authenticator, nodeAuthenticator, simulatedAuthenticator } from "./authenticator.ts";
export { type BroadcastDelivery, Broadcaster } from "./broadcast/mod.ts";
export * from "./constants.ts";
export { COUNTER_NAMES, type Counters } from "./counters.ts";
export { EventClock } from "./event_clock.ts";
export { MemoryNetwork } from "./memory_transport.ts";
export { isFresh, NonceCache } from "./nonce_cache.ts";
export { joinAddress, splitAddress } from "./address.ts";
export {
  PeerNode,
  type PeerNodeConfig,
  type PeerNodeDeps,
  type PeerNodeStatus,
  removalBoundMs,
} from "./peer_node.ts";
export { parseSeeds, type SeedSpec, SeedTrust } from "./seeds.ts";
export { DepartureReports } from "./departure_reports.ts";
export { nextIncarnation, plausibleIncarnation } from "./incarnation.ts";
export { TokenBucket } from "./rate_limit.ts";
export { RequestFailed, type RouteResult } from "./routing/mod.ts";
export type { Link, LinkEvents, Transport } from "./transport.ts";
export * from "./wire.ts";
