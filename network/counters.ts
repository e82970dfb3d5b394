/**
 * What the network layer counts: the figures behind `network.status`, the
 * tests' assertions (a duplicate is dropped, a forged message is refused) and
 * the simulation's overhead numbers.
 */
import type { WireMessage } from "./wire.ts";

export const COUNTER_NAMES = [
  "messages_sent",
  "messages_received",
  "links_opened",
  "links_refused",
  "evictions",
  "dials_failed",
  "broadcasts_originated",
  "broadcasts_delivered",
  "broadcasts_relayed",
  "broadcast_duplicates",
  /** Plumtree: broadcast ids asked for after a lazy announcement, and links pruned from the tree. */
  "broadcast_grafts",
  "broadcast_prunes",
  /** Retained broadcasts (the market) handed over by a neighbour at join and delivered here. */
  "retained_delivered",
  "stale_dropped",
  "forged_dropped",
  "malformed_frames",
  "rate_limited",
  /** Messages dropped because their peer was over its budget (the link stays). */
  "messages_shed",
  "misbehaving_peers",
  "departures_recorded",
  "refutations",
  /** Unsigned reports that a node left: each only a reason to check it (never to drop it). */
  "departure_reports",
  /** Dials made to see for ourselves whether a reported node is still there, and those that failed. */
  "departure_checks",
  "departure_checks_failed",
  /** Checks not made: the check budget was spent (the reported node stays in the book). */
  "departure_checks_skipped",
  /** Numbers no honest node sends (an incarnation ahead of every clock), dropped unused. */
  "claims_dropped",
  /** Kademlia lookups (network/routing/) started, those that did not find their target, queries made. */
  "lookups",
  "lookups_failed",
  "lookup_queries",
  /** Request links dialled (to a node that is not a neighbour), requests sent and answered on links. */
  "request_links_opened",
  /** Short links dialled for one lookup query each (to a node that is not a neighbour). */
  "query_links_opened",
  "calls_sent",
  "calls_answered",
  /** Relayed connections DCUtR replaced with a direct one, counted by the node that dialled it. */
  "relayed_upgraded",
] as const;
export type CounterName = typeof COUNTER_NAMES[number];
export type Counters = Record<CounterName, number>;

export function createCounters(): Counters {
  return Object.fromEntries(COUNTER_NAMES.map((name) => [name, 0])) as Counters;
}

/** What happened to a message, for counts by wire kind. */
export const MESSAGE_FLOWS = ["sent", "received", "shed"] as const;
export type MessageFlow = typeof MESSAGE_FLOWS[number];
/** Every wire kind (`t`). */
export const MESSAGE_KINDS = [
  "hello",
  "refuse",
  "peers",
  "bcast",
  "ihave",
  "graft",
  "prune",
  "retained_req",
  "retained",
  "find",
  "found",
  "call",
  "answer",
  "bye",
] as const satisfies readonly WireMessage["t"][];
export type MessageKind = typeof MESSAGE_KINDS[number];
/** Fails to compile when wire.ts gains a kind the list above lacks. */
const _everyKindListed: [Exclude<WireMessage["t"], MessageKind>] extends [never] ? true : never =
  true;
/** Messages sent, received and shed (over the peer's budget), by wire kind. */
export type MessageCounts = Record<MessageFlow, Record<MessageKind, number>>;

export function createMessageCounts(): MessageCounts {
  const zeros = () => Object.fromEntries(MESSAGE_KINDS.map((kind) => [kind, 0]));
  return Object.fromEntries(MESSAGE_FLOWS.map((flow) => [flow, zeros()])) as MessageCounts;
}
