/** Broadcast along a tree with lazy repair (Plumtree): the public face of network/broadcast/. */
export {
  type BroadcastDelivery,
  Broadcaster,
  type BroadcasterDeps,
  type TreeMessage,
} from "./plumtree.ts";
export { MessageCache } from "./message_cache.ts";
export { MissingIds } from "./missing.ts";
