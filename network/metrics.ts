/**
 * The network worker's Prometheus metrics (`dbc_p2p_*`), read at each scrape from what the
 * protocol already counts (counters.ts, the peer node's status), so the protocol code carries no
 * metrics calls. The HTTP worker asks for them with `metrics.network` and serves them on
 * `/metrics` with the other workers'.
 */
import {
  type MetricsSnapshot,
  mirroredCounter,
  mirroredGauge,
  type Reading,
  registerIsolateMetrics,
  Registry,
  snapshotOf,
} from "../mod/mod.ts";
import {
  type CounterName,
  type Counters,
  MESSAGE_FLOWS,
  MESSAGE_KINDS,
  type MessageCounts,
} from "./counters.ts";
import type { PeerNodeStatus } from "./peer_node.ts";

/** What the metrics read: a PeerNode. */
export type NetworkMetricsSource = {
  status(): PeerNodeStatus;
  readonly messageCounts: MessageCounts;
};

/** Counter families other than the by-kind message counts, each with its one label's name. */
const FAMILIES = {
  dbc_p2p_links_total: {
    label: "event",
    help: "Peer links opened, refused, evicted; dials failed.",
  },
  dbc_p2p_messages_dropped_total: {
    label: "reason",
    help:
      "Messages dropped unused: stale, forged, malformed frames, impossible claims, and flooding (the link is cut).",
  },
  dbc_p2p_broadcasts_total: {
    label: "event",
    help: "Broadcasts originated here, delivered here, and duplicates dropped.",
  },
  dbc_p2p_relayed_total: {
    label: "kind",
    help: "Copies of broadcasts sent on to neighbours (first copies included).",
  },
  dbc_p2p_events_total: {
    label: "event",
    help: "Other protocol events: misbehaving peers, departures, refutations, lookups, requests.",
  },
} as const;
type FamilyName = keyof typeof FAMILIES;

/**
 * Where each running total goes: family and label value. Total over every counter, so a counter
 * added to counters.ts does not compile until it has a place; `undefined` for those the by-kind
 * families already carry.
 */
const COUNTER_SERIES: Record<CounterName, readonly [FamilyName, string] | undefined> = {
  messages_sent: undefined, // dbc_p2p_messages_total{direction="sent"}
  messages_received: undefined, // dbc_p2p_messages_total{direction="received"}
  messages_shed: undefined, // dbc_p2p_messages_shed_total
  links_opened: ["dbc_p2p_links_total", "opened"],
  links_refused: ["dbc_p2p_links_total", "refused"],
  evictions: ["dbc_p2p_links_total", "evicted"],
  dials_failed: ["dbc_p2p_links_total", "dial_failed"],
  broadcasts_originated: ["dbc_p2p_broadcasts_total", "originated"],
  broadcasts_delivered: ["dbc_p2p_broadcasts_total", "delivered"],
  broadcast_duplicates: ["dbc_p2p_broadcasts_total", "duplicate"],
  retained_delivered: ["dbc_p2p_broadcasts_total", "retained_delivered"],
  broadcasts_relayed: ["dbc_p2p_relayed_total", "bcast"],
  broadcast_grafts: ["dbc_p2p_events_total", "broadcast_graft"],
  broadcast_prunes: ["dbc_p2p_events_total", "broadcast_prune"],
  stale_dropped: ["dbc_p2p_messages_dropped_total", "stale"],
  forged_dropped: ["dbc_p2p_messages_dropped_total", "forged"],
  malformed_frames: ["dbc_p2p_messages_dropped_total", "malformed"],
  claims_dropped: ["dbc_p2p_messages_dropped_total", "impossible_claim"],
  rate_limited: ["dbc_p2p_messages_dropped_total", "flood"],
  misbehaving_peers: ["dbc_p2p_events_total", "misbehaving_peer"],
  departures_recorded: ["dbc_p2p_events_total", "departure_recorded"],
  refutations: ["dbc_p2p_events_total", "refutation"],
  departure_reports: ["dbc_p2p_events_total", "departure_report"],
  departure_checks: ["dbc_p2p_events_total", "departure_check"],
  departure_checks_failed: ["dbc_p2p_events_total", "departure_check_failed"],
  departure_checks_skipped: ["dbc_p2p_events_total", "departure_check_skipped"],
  lookups: ["dbc_p2p_events_total", "lookup"],
  lookups_failed: ["dbc_p2p_events_total", "lookup_failed"],
  lookup_queries: ["dbc_p2p_events_total", "lookup_query"],
  request_links_opened: ["dbc_p2p_links_total", "request_link_opened"],
  query_links_opened: ["dbc_p2p_links_total", "query_link_opened"],
  calls_sent: ["dbc_p2p_events_total", "call_sent"],
  calls_answered: ["dbc_p2p_events_total", "call_answered"],
  relayed_upgraded: ["dbc_p2p_links_total", "relayed_upgraded"],
};

/** The readings of one family from the running totals. */
export function familyReadings(family: FamilyName, counters: Counters): Reading<string>[] {
  const label = FAMILIES[family].label;
  return (Object.entries(COUNTER_SERIES) as [CounterName, readonly [FamilyName, string]][])
    .filter(([, series]) => series?.[0] === family)
    .map(([name, [, value]]) => [{ [label]: value }, counters[name]]);
}

export type NetworkMetrics = { collect(): Promise<MetricsSnapshot> };

/** The network worker's registry, read from `source` at each collect. */
export function networkMetrics(source: NetworkMetricsSource): NetworkMetrics {
  const registry = new Registry();
  registerIsolateMetrics(registry, "network");
  // Read once per scrape (in collect, below) and shared by every family read from it.
  let status: PeerNodeStatus = source.status();
  const gauge = (name: string, help: string, read: (s: PeerNodeStatus) => number) =>
    mirroredGauge({ registry, name, help, labelNames: [], read: () => [[{}, read(status)]] });

  mirroredGauge({
    registry,
    name: "dbc_p2p_peers",
    help: "Open links to neighbours, by who dialled.",
    labelNames: ["direction"],
    read: () => [[{ direction: "outbound" }, status.outbound], [
      { direction: "inbound" },
      status.inbound,
    ]],
  });
  mirroredGauge({
    registry,
    name: "dbc_p2p_peer_limit",
    help: "Links wanted (outbound) and accepted at most (inbound).",
    labelNames: ["direction"],
    read: () => [[{ direction: "outbound" }, status.targetOutbound], [
      { direction: "inbound" },
      status.maxInbound,
    ]],
  });
  gauge("dbc_p2p_known_peers", "Entries in the address book.", (s) => s.knownPeers);
  gauge("dbc_p2p_departed_peers", "Nodes known to have left.", (s) => s.departedPeers);
  gauge(
    "dbc_p2p_pending_requests",
    "Requests of this node's waiting for their reply.",
    (s) => s.pendingRequests,
  );
  gauge(
    "dbc_p2p_nonce_cache_entries",
    "Nonces remembered against replays.",
    (s) => s.nonceCache.size,
  );
  gauge("dbc_p2p_nonce_cache_capacity", "Nonces remembered at most.", (s) => s.nonceCache.max);
  mirroredCounter({
    registry,
    name: "dbc_p2p_nonce_cache_evicted_early_total",
    help: "Nonces forgotten before their time to make room (replays of them would pass).",
    labelNames: [],
    read: () => [[{}, status.nonceCache.evictedEarly]],
  });
  mirroredCounter({
    registry,
    name: "dbc_p2p_messages_total",
    help: "Messages sent to and received from neighbours, by wire kind.",
    labelNames: ["direction", "kind"],
    read: () =>
      MESSAGE_FLOWS.filter((flow) => flow !== "shed").flatMap((direction) =>
        MESSAGE_KINDS.map((kind): Reading<"direction" | "kind"> => [
          { direction, kind },
          source.messageCounts[direction][kind],
        ])
      ),
  });
  mirroredCounter({
    registry,
    name: "dbc_p2p_messages_shed_total",
    help: "Messages received over the peer's rate budget and dropped (the link stays), by kind.",
    labelNames: ["kind"],
    read: () => MESSAGE_KINDS.map((kind) => [{ kind }, source.messageCounts.shed[kind]]),
  });
  for (
    const [name, family] of Object.entries(FAMILIES) as [FamilyName, typeof FAMILIES[FamilyName]][]
  ) {
    mirroredCounter({
      registry,
      name,
      help: family.help,
      labelNames: [family.label],
      read: () => familyReadings(name, status.counters),
    });
  }
  return {
    collect: () => {
      status = source.status();
      return snapshotOf(registry);
    },
  };
}
