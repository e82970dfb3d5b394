/**
 * What the network layer counts: the figures behind `network.status`, the
 * tests' assertions (a duplicate is dropped, a forged message is refused) and
 * the simulation's overhead numbers.
 */
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
  "sealed_sent",
  "sealed_delivered",
  "sealed_relayed",
  "sealed_duplicates",
  "sealed_unopenable",
  "stale_dropped",
  "forged_dropped",
  "malformed_frames",
  "rate_limited",
  /** Messages dropped because their peer was over its budget (the link stays). */
  "messages_shed",
  "misbehaving_peers",
  "departures_recorded",
  "refutations",
] as const;
export type CounterName = typeof COUNTER_NAMES[number];
export type Counters = Record<CounterName, number>;

export function createCounters(): Counters {
  return Object.fromEntries(COUNTER_NAMES.map((name) => [name, 0])) as Counters;
}
