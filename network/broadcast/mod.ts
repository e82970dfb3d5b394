/** Broadcast along a tree with lazy repair (Plumtree): the public face of network/broadcast/. */
export {
  type BroadcastDelivery,
  Broadcaster,
  type BroadcasterDeps,
  type RetainedMessage,
  type TreeMessage,
} from "./plumtree.ts";
export { MessageCache } from "./message_cache.ts";
export { MissingIds } from "./missing.ts";
export { RetainedBroadcasts } from "./retained.ts";
export { RETAINED_ANSWER_MS, RETAINED_MAX_AGE_MS } from "./constants.ts";
